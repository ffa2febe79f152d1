from tests.helpers.s3_fixtures import moto_server, s3_bucket, s3_settings  # noqa: F401
