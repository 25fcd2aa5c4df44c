"""Business objects: companies, partners and products with custom fields and validators (seed 000)."""
