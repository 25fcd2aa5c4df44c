"""Extensions: pages, management API, auto REST and the OpenAPI document."""
