"""Amazon SP-API Vendor Direct Fulfillment through python-amazon-sp-api: the VendorApi port's implementation."""

from adapters.amazon.api import AmazonAccess, SpApiVendorApi

__all__ = ["AmazonAccess", "SpApiVendorApi"]
