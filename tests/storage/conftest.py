from tests.storage.s3_server import s3_server, s3_settings  # noqa: F401 - fixtures of this folder
