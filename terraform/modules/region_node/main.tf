# One georep region node on EC2: its network (or an existing one), a security group that
# admits QUIC only from the other regions and the API only from configured networks, an
# instance that cloud-init turns into a systemd service, and an IAM role limited to this
# cluster's archive prefix and this node's secrets.
#
# Secrets (mTLS certificate and key, cluster CA, the API's HTTPS certificate and key, the
# client API's token hashes and JWT key, session-token key, archive key) live in Secrets
# Manager. Terraform creates the empty secrets; operators upload the values
# (see README.md), so they never appear in user data or in Terraform state.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  name      = "georep-${var.cluster}-${var.region_name}"
  create    = var.vpc_id == null
  vpc_id    = local.create ? aws_vpc.node[0].id : var.vpc_id
  subnet_id = local.create ? aws_subnet.node[0].id : var.subnet_id
  # the secrets a node reads at boot, as files under /etc/georep
  secret_files = {
    "tls-ca"      = "tls/ca.pem"
    "tls-cert"    = "tls/${var.region_name}.pem"
    "tls-key"     = "tls/${var.region_name}.key"
    "api-cert"    = "tls/${var.region_name}.api.pem"
    "api-key"     = "tls/${var.region_name}.api.key"
    "auth-tokens" = "auth-tokens.toml"
    "jwt-key"     = "jwt.key"
    "session-key" = "session.key"
    "archive-key" = "archive.key"
  }
  binary_object_arn = "arn:aws:s3:::${trimprefix(var.binary_s3_uri, "s3://")}"
  tags              = merge(var.tags, { "georep:cluster" = var.cluster, "georep:region" = var.region_name })
}

# --- encryption key for this node's disk, secrets and logs -----------------------------

resource "aws_kms_key" "node" {
  description             = "${local.name}: disk, secrets and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.node_key.json
  tags                    = local.tags
}

data "aws_iam_policy_document" "node_key" {
  #checkov:skip=CKV_AWS_109:A KMS key policy's Resource "*" means this key only; the account root must administer it or the key becomes unmanageable.
  #checkov:skip=CKV_AWS_111:A KMS key policy's Resource "*" means this key only; writes are limited to the account and CloudWatch Logs in this region.
  #checkov:skip=CKV_AWS_356:A KMS key policy's Resource "*" means this key only (AWS requires "*" in key policies).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "FlowLogsEncrypt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

# --- secrets: created empty, filled by the operator -------------------------------------

resource "aws_secretsmanager_secret" "node" {
  #checkov:skip=CKV2_AWS_57:Certificates and keys rotate by issuing new ones and uploading them as new secret versions; there is no rotation Lambda for them.
  for_each                = local.secret_files
  name                    = "${local.name}/${each.key}"
  description             = "georep ${var.cluster}/${var.region_name}: written to /etc/georep/${each.value} at boot"
  kms_key_id              = aws_kms_key.node.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

# --- network (only when no existing VPC is given) ---------------------------------------

resource "aws_vpc" "node" {
  count                = local.create ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_default_security_group" "node" {
  count  = local.create ? 1 : 0
  vpc_id = aws_vpc.node[0].id
  tags   = merge(local.tags, { Name = "${local.name}-default-deny" })
}

resource "aws_subnet" "node" {
  count                   = local.create ? 1 : 0
  vpc_id                  = aws_vpc.node[0].id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, 1)
  availability_zone       = coalesce(var.availability_zone, "${data.aws_region.current.name}a")
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = local.name })
}

resource "aws_internet_gateway" "node" {
  count  = local.create ? 1 : 0
  vpc_id = aws_vpc.node[0].id
  tags   = merge(local.tags, { Name = local.name })
}

resource "aws_route_table" "node" {
  count  = local.create ? 1 : 0
  vpc_id = aws_vpc.node[0].id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.node[0].id
  }
  tags = merge(local.tags, { Name = local.name })
}

resource "aws_route_table_association" "node" {
  count          = local.create ? 1 : 0
  subnet_id      = aws_subnet.node[0].id
  route_table_id = aws_route_table.node[0].id
}

resource "aws_cloudwatch_log_group" "flow" {
  count             = local.create ? 1 : 0
  name              = "/georep/${var.cluster}/${var.region_name}/vpc-flow"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.node.arn
  tags              = local.tags
}

resource "aws_iam_role" "flow" {
  count              = local.create ? 1 : 0
  name               = "${local.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "flow" {
  count = local.create ? 1 : 0
  name  = "write-flow-logs"
  role  = aws_iam_role.flow[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow[0].arn}:*"
    }]
  })
}

resource "aws_flow_log" "node" {
  count           = local.create ? 1 : 0
  vpc_id          = aws_vpc.node[0].id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow[0].arn
  iam_role_arn    = aws_iam_role.flow[0].arn
  tags            = local.tags
}

# --- firewall ---------------------------------------------------------------------------

resource "aws_security_group" "node" {
  name        = local.name
  description = "georep ${var.region_name}: QUIC from peer regions, HTTPS API from application networks"
  vpc_id      = local.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "peer" {
  for_each          = toset(var.peer_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "QUIC (mutual TLS) from a peer region"
  ip_protocol       = "udp"
  from_port         = var.peer_port
  to_port           = var.peer_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "api" {
  for_each          = toset(var.api_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "georep HTTPS API (bearer tokens) from an application network"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "peer" {
  for_each          = toset(var.peer_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "QUIC to a peer region"
  ip_protocol       = "udp"
  from_port         = var.peer_port
  to_port           = var.peer_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.node.id
  description       = "HTTPS to AWS APIs (S3, Secrets Manager, KMS)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# --- identity: only this cluster's archive prefix, this node's secrets, the binary ------

resource "aws_iam_role" "node" {
  name               = local.name
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "node" {
  statement {
    sid       = "ListArchivePrefix"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [var.archive_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.archive_prefix}/${var.cluster}/*"]
    }
  }

  statement {
    sid = "ReadWriteArchiveObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${var.archive_bucket_arn}/${var.archive_prefix}/${var.cluster}/*"]
  }

  statement {
    sid       = "UseArchiveKey"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.archive_kms_key_arn]
  }

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for s in aws_secretsmanager_secret.node : s.arn]
  }

  statement {
    sid       = "DecryptOwnSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.node.arn]
  }

  statement {
    sid       = "FetchBinary"
    actions   = ["s3:GetObject"]
    resources = [local.binary_object_arn]
  }
}

resource "aws_iam_role_policy" "node" {
  name   = "georep-node"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.node.json
}

resource "aws_iam_instance_profile" "node" {
  name = local.name
  role = aws_iam_role.node.name
  tags = local.tags
}

# --- the node ---------------------------------------------------------------------------

resource "aws_eip" "node" {
  domain = "vpc"
  tags   = merge(local.tags, { Name = local.name })
}

resource "aws_instance" "node" {
  ami                         = var.ami_id
  instance_type               = var.instance_type
  subnet_id                   = local.subnet_id
  vpc_security_group_ids      = [aws_security_group.node.id]
  iam_instance_profile        = aws_iam_instance_profile.node.name
  associate_public_ip_address = false
  monitoring                  = true
  ebs_optimized               = true
  user_data_replace_on_change = false

  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    region        = var.region_name
    api_port      = var.api_port
    aws_region    = data.aws_region.current.name
    topology_toml = var.topology_toml
    binary_s3_uri = var.binary_s3_uri
    binary_sha256 = var.binary_sha256
    secrets       = { for k, path in local.secret_files : path => aws_secretsmanager_secret.node[k].arn }
  })

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    kms_key_id  = aws_kms_key.node.arn
    volume_type = "gp3"
    volume_size = var.data_volume_gb
    iops        = 6000
    throughput  = 250
  }

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_eip_association" "node" {
  instance_id   = aws_instance.node.id
  allocation_id = aws_eip.node.id
}
