variable "cluster" {
  description = "georep cluster name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.cluster))
    error_message = "cluster must be 1-63 characters of a-z, 0-9 and '-', not starting with '-'."
  }
}

variable "regions" {
  description = "The three regions: georep name, AWS region, and AMI there. The first also hosts the archive bucket."
  type = list(object({
    name       = string
    aws_region = string
    ami_id     = string
  }))

  validation {
    condition     = length(var.regions) == 3
    error_message = "This example wires exactly three regions (one aliased provider each)."
  }

  validation {
    condition     = length(distinct([for r in var.regions : r.name])) == 3 && length(distinct([for r in var.regions : r.aws_region])) == 3
    error_message = "Region names and AWS regions must be distinct."
  }

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z0-9][a-z0-9-]{0,62}$", r.name)) && can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r.aws_region))])
    error_message = "Each name must be a-z, 0-9 and '-' (1-63 characters) and each aws_region an AWS region code such as eu-west-1."
  }
}

variable "api_port" {
  description = "TCP port of every node's HTTP API."
  type        = number
  default     = 7101

  validation {
    condition     = var.api_port >= 1024 && var.api_port <= 65535
    error_message = "api_port must be between 1024 and 65535."
  }
}

variable "peer_port" {
  description = "UDP port of every node's QUIC peer endpoint."
  type        = number
  default     = 7201

  validation {
    condition     = var.peer_port >= 1024 && var.peer_port <= 65535 && var.peer_port != var.api_port
    error_message = "peer_port must be between 1024 and 65535 and differ from api_port."
  }
}

variable "api_cidrs" {
  description = "Application networks allowed to call the HTTP API."
  type        = list(string)

  validation {
    condition     = length(var.api_cidrs) > 0 && alltrue([for c in var.api_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_cidrs must list at least one IPv4 CIDR block, and never 0.0.0.0/0."
  }
}

variable "archive_bucket_name" {
  description = "Globally unique name of the S3 archive bucket."
  type        = string
}

variable "archive_retention_days" {
  description = "Days of restore points georep keeps ([archive] retention_days). The bucket keeps objects 7 days longer."
  type        = number
  default     = 7

  validation {
    condition     = var.archive_retention_days >= 1 && var.archive_retention_days <= 3650
    error_message = "archive_retention_days must be between 1 and 3650."
  }
}

variable "binary_s3_uri" {
  description = "s3:// URI of the georep release binary the nodes install."
  type        = string
}

variable "binary_sha256" {
  description = "SHA-256 of that binary."
  type        = string
}

variable "collections" {
  description = "Collection placements: tier critical (3 regions), standard (2: voter then learner) or archival (1)."
  type = list(object({
    name        = string
    tier        = string
    regions     = list(string)
    consistency = optional(string, "session")
  }))
  default = []

  validation {
    condition     = alltrue([for c in var.collections : contains(["critical", "standard", "archival"], c.tier)])
    error_message = "Each collection's tier must be critical, standard or archival."
  }

  validation {
    condition     = alltrue([for c in var.collections : length(c.regions) == lookup({ critical = 3, standard = 2, archival = 1 }, c.tier, 0)])
    error_message = "critical placements name 3 regions, standard 2, archival 1."
  }

  validation {
    condition     = alltrue([for c in var.collections : alltrue([for r in c.regions : contains([for x in var.regions : x.name], r)])])
    error_message = "Collections may only name regions listed in var.regions."
  }

  validation {
    condition     = alltrue([for c in var.collections : contains(["strong", "bounded_staleness", "session", "consistent_prefix", "eventual"], c.consistency)])
    error_message = "consistency must be strong, bounded_staleness, session, consistent_prefix or eventual."
  }
}
