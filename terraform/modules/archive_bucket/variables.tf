variable "bucket_name" {
  description = "Globally unique S3 bucket name for the georep archive."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "prefix" {
  description = "Key prefix under which georep writes (<prefix>/<cluster>/g<group>/...). Node access is limited to it."
  type        = string
  default     = "georep"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*[a-z0-9]$", var.prefix))
    error_message = "prefix must be lowercase letters, digits, '/', '_' or '-', without a leading or trailing '/'."
  }
}

variable "cold_after_days" {
  description = "Objects move to cold_storage_class this many days after they are written."
  type        = number
  default     = 30

  validation {
    condition     = var.cold_after_days >= 1 && floor(var.cold_after_days) == var.cold_after_days
    error_message = "cold_after_days must be a whole number of days, at least 1."
  }
}

variable "cold_storage_class" {
  description = "Colder S3 storage class for old archive objects."
  type        = string
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.cold_storage_class)
    error_message = "cold_storage_class must be one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE."
  }

  validation {
    condition     = !contains(["STANDARD_IA", "ONEZONE_IA"], var.cold_storage_class) || var.cold_after_days >= 30
    error_message = "S3 moves objects to STANDARD_IA or ONEZONE_IA only after at least 30 days: raise cold_after_days or pick GLACIER_IR."
  }
}

variable "retention_days" {
  description = "Objects expire this many days after they are written. Keep it above georep's archive.retention_days so no restore point loses an object it needs."
  type        = number
  default     = 35

  validation {
    condition     = var.retention_days >= 2 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days, at least 2."
  }

  validation {
    condition     = var.retention_days > var.cold_after_days
    error_message = "retention_days must be greater than cold_after_days (objects turn cold before they expire)."
  }
}

variable "node_role_arns" {
  description = "IAM role ARNs of the georep nodes that may read and write the archive (none: only the bucket owner)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.node_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "node_role_arns must be IAM role ARNs (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
