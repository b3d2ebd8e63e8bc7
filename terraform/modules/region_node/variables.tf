variable "cluster" {
  description = "georep cluster name (the topology's `cluster`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.cluster))
    error_message = "cluster must be 1-63 characters of a-z, 0-9 and '-', not starting with '-'."
  }
}

variable "region_name" {
  description = "georep region name of this node (usually the cloud region, e.g. us-east-1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.region_name))
    error_message = "region_name must be 1-63 characters of a-z, 0-9 and '-', not starting with '-'."
  }
}

variable "vpc_id" {
  description = "Existing VPC to run in. Null creates a VPC with one public subnet."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Existing subnet (in vpc_id) with a route to the internet. Required when vpc_id is set."
  type        = string
  default     = null

  validation {
    condition     = (var.vpc_id == null) == (var.subnet_id == null)
    error_message = "Set vpc_id and subnet_id together, or neither (to create a VPC)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC this module creates (ignored with vpc_id)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block such as 10.42.0.0/16."
  }
}

variable "availability_zone" {
  description = "Availability zone of the created subnet (null: the region's \"a\" zone, e.g. eu-west-1a)."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "AMI of a systemd Linux with the AWS CLI and curl (Amazon Linux 2023 or Debian 12 with awscli)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type. georep wants fast fsync: prefer types with NVMe instance storage or gp3 with provisioned IOPS."
  type        = string
  default     = "m6i.large"
}

variable "data_volume_gb" {
  description = "Size of the encrypted root volume that holds the WAL and store (GiB)."
  type        = number
  default     = 100

  validation {
    condition     = var.data_volume_gb >= 20 && var.data_volume_gb <= 16384
    error_message = "data_volume_gb must be between 20 and 16384."
  }
}

variable "api_port" {
  description = "TCP port of the HTTPS client API."
  type        = number
  default     = 7101

  validation {
    condition     = var.api_port >= 1024 && var.api_port <= 65535
    error_message = "api_port must be between 1024 and 65535."
  }
}

variable "peer_port" {
  description = "UDP port of the QUIC peer endpoint (mutual TLS between regions)."
  type        = number
  default     = 7201

  validation {
    condition     = var.peer_port >= 1024 && var.peer_port <= 65535
    error_message = "peer_port must be between 1024 and 65535."
  }
}

variable "peer_cidrs" {
  description = "Addresses (CIDRs, normally /32) of the other regions' nodes: the only sources allowed to reach peer_port."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.peer_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "peer_cidrs must be IPv4 CIDR blocks, and never 0.0.0.0/0."
  }
}

variable "api_cidrs" {
  description = "CIDRs of the application networks allowed to reach api_port."
  type        = list(string)

  validation {
    condition     = length(var.api_cidrs) > 0 && alltrue([for c in var.api_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_cidrs must list at least one IPv4 CIDR block, and never 0.0.0.0/0."
  }
}

variable "topology_toml" {
  description = "The georep topology file (not secret: it names regions, addresses and placements)."
  type        = string

  validation {
    condition     = can(regex("(?m)^cluster = ", var.topology_toml))
    error_message = "topology_toml must be a georep topology file (it starts with cluster = ...)."
  }
}

variable "binary_s3_uri" {
  description = "s3:// URI of the georep release binary (linux x86_64) that cloud-init installs."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9.-]+/.+$", var.binary_s3_uri))
    error_message = "binary_s3_uri must be s3://bucket/key."
  }
}

variable "binary_sha256" {
  description = "SHA-256 of the binary at binary_s3_uri; cloud-init refuses any other."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be 64 lowercase hex characters."
  }
}

variable "archive_bucket_arn" {
  description = "ARN of the archive bucket (module archive_bucket)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.archive_bucket_arn))
    error_message = "archive_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::name)."
  }
}

variable "archive_prefix" {
  description = "Key prefix in the archive bucket that this cluster writes under."
  type        = string
  default     = "georep"
}

variable "archive_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the archive bucket."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
