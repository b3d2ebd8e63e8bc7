output "public_ip" {
  description = "Elastic IP of the node: its address for peers and clients."
  value       = aws_eip.node.public_ip
}

output "peer_cidr" {
  description = "The node's address as a /32, for the other regions' peer_cidrs."
  value       = "${aws_eip.node.public_ip}/32"
}

output "api_endpoint" {
  description = "URL of the node's HTTPS API (verify it with the cluster CA: --cacert ca.pem)."
  value       = "https://${aws_eip.node.public_ip}:${var.api_port}"
}

output "instance_id" {
  description = "EC2 instance id."
  value       = aws_instance.node.id
}

output "security_group_id" {
  description = "Security group of the node."
  value       = aws_security_group.node.id
}

output "role_arn" {
  description = "IAM role of the node (grant it on the archive bucket's key policy)."
  value       = aws_iam_role.node.arn
}

output "secret_arns" {
  description = "Secrets Manager ARNs to fill before the first boot: tls-ca, tls-cert, tls-key, api-cert, api-key, auth-tokens, jwt-key, session-key, archive-key."
  value       = { for k, s in aws_secretsmanager_secret.node : k => s.arn }
}
