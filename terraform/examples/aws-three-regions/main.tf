# Three georep regions on AWS with one S3 archive bucket.
#
# Providers cannot be created from a list, so the three regions are wired explicitly
# (aws.r0, aws.r1, aws.r2); their names and AWS regions come from var.regions.

provider "aws" {
  alias  = "r0"
  region = var.regions[0].aws_region
}

provider "aws" {
  alias  = "r1"
  region = var.regions[1].aws_region
}

provider "aws" {
  alias  = "r2"
  region = var.regions[2].aws_region
}

locals {
  archive_prefix = "georep"
  public_ips = [
    module.node_r0.public_ip,
    module.node_r1.public_ip,
    module.node_r2.public_ip,
  ]
  peer_cidrs = [for ip in local.public_ips : "${ip}/32"]

  # The topology every node reads; `terraform output -raw topology_toml` shows it.
  topology_toml = templatefile("${path.module}/topology.toml.tftpl", {
    cluster = var.cluster
    regions = [for i, r in var.regions : {
      name = r.name
      api  = "${local.public_ips[i]}:${var.api_port}"
      peer = "${local.public_ips[i]}:${var.peer_port}"
    }]
    archive_url    = module.archive.archive_url
    retention_days = var.archive_retention_days
    collections    = var.collections
  })

  node_common = {
    cluster             = var.cluster
    api_port            = var.api_port
    peer_port           = var.peer_port
    api_cidrs           = var.api_cidrs
    binary_s3_uri       = var.binary_s3_uri
    binary_sha256       = var.binary_sha256
    archive_bucket_arn  = module.archive.bucket_arn
    archive_prefix      = local.archive_prefix
    archive_kms_key_arn = module.archive.kms_key_arn
  }
}

module "archive" {
  source    = "../../modules/archive_bucket"
  providers = { aws = aws.r0 }

  bucket_name    = var.archive_bucket_name
  prefix         = local.archive_prefix
  retention_days = var.archive_retention_days + 7
  node_role_arns = [module.node_r0.role_arn, module.node_r1.role_arn, module.node_r2.role_arn]
  tags           = { "georep:cluster" = var.cluster }
}

module "node_r0" {
  source    = "../../modules/region_node"
  providers = { aws = aws.r0 }

  region_name         = var.regions[0].name
  ami_id              = var.regions[0].ami_id
  peer_cidrs          = [local.peer_cidrs[1], local.peer_cidrs[2]]
  topology_toml       = local.topology_toml
  cluster             = local.node_common.cluster
  api_port            = local.node_common.api_port
  peer_port           = local.node_common.peer_port
  api_cidrs           = local.node_common.api_cidrs
  binary_s3_uri       = local.node_common.binary_s3_uri
  binary_sha256       = local.node_common.binary_sha256
  archive_bucket_arn  = local.node_common.archive_bucket_arn
  archive_prefix      = local.node_common.archive_prefix
  archive_kms_key_arn = local.node_common.archive_kms_key_arn
}

module "node_r1" {
  source    = "../../modules/region_node"
  providers = { aws = aws.r1 }

  region_name         = var.regions[1].name
  ami_id              = var.regions[1].ami_id
  peer_cidrs          = [local.peer_cidrs[0], local.peer_cidrs[2]]
  topology_toml       = local.topology_toml
  cluster             = local.node_common.cluster
  api_port            = local.node_common.api_port
  peer_port           = local.node_common.peer_port
  api_cidrs           = local.node_common.api_cidrs
  binary_s3_uri       = local.node_common.binary_s3_uri
  binary_sha256       = local.node_common.binary_sha256
  archive_bucket_arn  = local.node_common.archive_bucket_arn
  archive_prefix      = local.node_common.archive_prefix
  archive_kms_key_arn = local.node_common.archive_kms_key_arn
}

module "node_r2" {
  source    = "../../modules/region_node"
  providers = { aws = aws.r2 }

  region_name         = var.regions[2].name
  ami_id              = var.regions[2].ami_id
  peer_cidrs          = [local.peer_cidrs[0], local.peer_cidrs[1]]
  topology_toml       = local.topology_toml
  cluster             = local.node_common.cluster
  api_port            = local.node_common.api_port
  peer_port           = local.node_common.peer_port
  api_cidrs           = local.node_common.api_cidrs
  binary_s3_uri       = local.node_common.binary_s3_uri
  binary_sha256       = local.node_common.binary_sha256
  archive_bucket_arn  = local.node_common.archive_bucket_arn
  archive_prefix      = local.node_common.archive_prefix
  archive_kms_key_arn = local.node_common.archive_kms_key_arn
}
