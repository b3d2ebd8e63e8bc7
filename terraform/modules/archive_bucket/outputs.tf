output "bucket_name" {
  description = "Name of the archive bucket."
  value       = aws_s3_bucket.archive.id
}

output "bucket_arn" {
  description = "ARN of the archive bucket (for IAM policies)."
  value       = aws_s3_bucket.archive.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the bucket."
  value       = aws_kms_key.archive.arn
}

output "archive_url" {
  description = "The archive URL for georep's topology ([archive] url)."
  value       = "s3://${aws_s3_bucket.archive.id}/${var.prefix}"
}
