# The georep archive in Azure Blob Storage: geo-zone-redundant, TLS 1.2 only, no shared keys
# or anonymous access, firewalled to the nodes, soft delete and versioning on, and a
# management policy that cools, archives and deletes old blobs.

resource "azurerm_storage_account" "archive" {
  #checkov:skip=CKV2_AZURE_1:Encrypted with Microsoft-managed keys plus infrastructure encryption; georep encrypts every object itself (AES-256-GCM) before upload. Add a Key Vault CMK where policy requires one.
  #checkov:skip=CKV2_AZURE_33:Nodes in other clouds reach the account over the internet, restricted by the firewall to their addresses; private endpoints only serve nodes inside Azure VNets.
  #checkov:skip=CKV_AZURE_59:Public network access stays on so nodes in AWS and GCP can reach the account; network_rules deny everything but their addresses.
  #checkov:skip=CKV_AZURE_33:The account holds only the archive blob container; there is no queue service to log.
  name                              = var.account_name
  resource_group_name               = var.resource_group_name
  location                          = var.location
  account_kind                      = "StorageV2"
  account_tier                      = "Standard"
  account_replication_type          = "GZRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  infrastructure_encryption_enabled = true
  public_network_access_enabled     = true
  local_user_enabled                = false
  tags                              = var.tags

  network_rules {
    default_action = "Deny"
    bypass         = ["AzureServices"]
    ip_rules       = var.allowed_ips
  }

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Log"
  }
}

resource "azurerm_storage_container" "archive" {
  #checkov:skip=CKV2_AZURE_21:Blob read logs need a diagnostic setting to the organisation's Log Analytics workspace, which this module does not own.
  name                  = var.container_name
  storage_account_id    = azurerm_storage_account.archive.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "nodes" {
  for_each             = toset(var.node_principal_ids)
  scope                = azurerm_storage_container.archive.resource_manager_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}

resource "azurerm_storage_management_policy" "archive" {
  storage_account_id = azurerm_storage_account.archive.id

  rule {
    name    = "age-out-georep-archive"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["${var.container_name}/${var.prefix}/"]
    }

    actions {
      base_blob {
        tier_to_cool_after_days_since_creation_greater_than    = var.cool_after_days
        tier_to_archive_after_days_since_creation_greater_than = var.archive_after_days
        delete_after_days_since_creation_greater_than          = var.retention_days
      }

      version {
        delete_after_days_since_creation = 7
      }
    }
  }
}
