"""Companies House streaming API ingestion: configured streams, the consumer, its simulator and supervisor."""
