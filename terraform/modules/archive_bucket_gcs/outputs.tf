output "bucket_name" {
  description = "Name of the archive bucket."
  value       = google_storage_bucket.archive.name
}

output "archive_url" {
  description = "The archive URL for georep's topology ([archive] url)."
  value       = "gs://${google_storage_bucket.archive.name}/${var.prefix}"
}
