output "topology_toml" {
  description = "The georep topology of this cluster: save it as regions/<cluster>.toml for clients and tools."
  value       = local.topology_toml
}

output "api_endpoints" {
  description = "HTTPS API URL of each region (verify with the cluster CA)."
  value = {
    (var.regions[0].name) = module.node_r0.api_endpoint
    (var.regions[1].name) = module.node_r1.api_endpoint
    (var.regions[2].name) = module.node_r2.api_endpoint
  }
}

output "secret_arns" {
  description = "Per region, the Secrets Manager ARNs to fill before the nodes can start."
  value = {
    (var.regions[0].name) = module.node_r0.secret_arns
    (var.regions[1].name) = module.node_r1.secret_arns
    (var.regions[2].name) = module.node_r2.secret_arns
  }
}

output "archive_url" {
  description = "Archive URL (for georep archive and restore commands)."
  value       = module.archive.archive_url
}
