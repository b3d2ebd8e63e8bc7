# The georep archive in Google Cloud Storage: uniform access, public access prevented,
# versioned, customer-managed encryption, access-logged, aged to a colder class and then
# deleted by lifecycle rules.

resource "google_storage_bucket" "archive" {
  project                     = var.project
  name                        = var.bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = var.kms_key_id
  }

  logging {
    log_bucket = var.log_bucket
  }

  lifecycle_rule {
    condition {
      age                   = var.cold_after_days
      matches_prefix        = ["${var.prefix}/"]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = var.cold_storage_class
    }
  }

  lifecycle_rule {
    condition {
      age            = var.retention_days
      matches_prefix = ["${var.prefix}/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_iam_member" "nodes" {
  for_each = toset(var.node_service_accounts)
  bucket   = google_storage_bucket.archive.name
  role     = "roles/storage.objectUser"
  member   = "serviceAccount:${each.value}"
}
