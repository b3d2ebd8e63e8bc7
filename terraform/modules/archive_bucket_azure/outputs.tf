output "account_name" {
  description = "Storage account name."
  value       = azurerm_storage_account.archive.name
}

output "container_name" {
  description = "Blob container of the archive."
  value       = azurerm_storage_container.archive.name
}

output "archive_url" {
  description = "The archive URL for georep's topology ([archive] url)."
  value       = "az://${azurerm_storage_account.archive.name}/${azurerm_storage_container.archive.name}/${var.prefix}"
}
