variable "project" {
  description = "GCP project that owns the bucket."
  type        = string
}

variable "bucket_name" {
  description = "Globally unique GCS bucket name for the georep archive."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or digit."
  }
}

variable "location" {
  description = "Bucket location: a region (us-east1), dual-region or multi-region (US, EU)."
  type        = string
  default     = "US"
}

variable "prefix" {
  description = "Object prefix under which georep writes."
  type        = string
  default     = "georep"
}

variable "cold_after_days" {
  description = "Objects move to cold_storage_class this many days after they are written."
  type        = number
  default     = 30

  validation {
    condition     = var.cold_after_days >= 1
    error_message = "cold_after_days must be at least 1."
  }
}

variable "cold_storage_class" {
  description = "Colder storage class for old archive objects."
  type        = string
  default     = "COLDLINE"

  validation {
    condition     = contains(["NEARLINE", "COLDLINE", "ARCHIVE"], var.cold_storage_class)
    error_message = "cold_storage_class must be NEARLINE, COLDLINE or ARCHIVE."
  }
}

variable "retention_days" {
  description = "Objects are deleted this many days after they are written (keep above georep's archive.retention_days)."
  type        = number
  default     = 35

  validation {
    condition     = var.retention_days > var.cold_after_days
    error_message = "retention_days must be greater than cold_after_days."
  }
}

variable "kms_key_id" {
  description = "Cloud KMS key (projects/.../cryptoKeys/...) that encrypts the bucket. The GCS service agent needs encrypter/decrypter on it."
  type        = string

  validation {
    condition     = can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_id))
    error_message = "kms_key_id must be a full Cloud KMS key name: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "log_bucket" {
  description = "Existing bucket that receives this bucket's access logs."
  type        = string
}

variable "node_service_accounts" {
  description = "Service-account e-mails of georep nodes that read and write the archive."
  type        = list(string)
  default     = []
}

variable "labels" {
  description = "Labels added to the bucket."
  type        = map(string)
  default     = {}
}
