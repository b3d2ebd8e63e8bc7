variable "resource_group_name" {
  description = "Existing resource group for the storage account."
  type        = string
}

variable "location" {
  description = "Azure region of the storage account (e.g. westeurope)."
  type        = string
}

variable "account_name" {
  description = "Globally unique storage account name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.account_name))
    error_message = "account_name must be 3-24 lowercase letters and digits."
  }
}

variable "container_name" {
  description = "Blob container that holds the archive."
  type        = string
  default     = "georep"

  validation {
    condition     = can(regex("^[a-z0-9](-?[a-z0-9]){2,62}$", var.container_name))
    error_message = "container_name must be 3-63 lowercase letters, digits and single hyphens."
  }
}

variable "prefix" {
  description = "Blob prefix under which georep writes."
  type        = string
  default     = "georep"
}

variable "allowed_ips" {
  description = "Public IPs or CIDRs (the georep nodes) allowed through the account firewall."
  type        = list(string)

  validation {
    condition     = length(var.allowed_ips) > 0 && !contains(var.allowed_ips, "0.0.0.0/0")
    error_message = "allowed_ips must list the nodes' addresses, and never 0.0.0.0/0."
  }
}

variable "cool_after_days" {
  description = "Blobs move to the cool tier this many days after they are written."
  type        = number
  default     = 30

  validation {
    condition     = var.cool_after_days >= 1
    error_message = "cool_after_days must be at least 1."
  }
}

variable "archive_after_days" {
  description = "Blobs move to the archive tier this many days after they are written (null: never)."
  type        = number
  default     = null
}

variable "retention_days" {
  description = "Blobs are deleted this many days after they are written (keep above georep's archive.retention_days)."
  type        = number
  default     = 35

  validation {
    condition     = var.retention_days > var.cool_after_days
    error_message = "retention_days must be greater than cool_after_days."
  }
}

variable "node_principal_ids" {
  description = "Object ids of the nodes' managed identities, granted Storage Blob Data Contributor on the container."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
