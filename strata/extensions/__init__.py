"""Extensions: manifests of tables, enums and relationships turned into real tables (seed 003)."""
