"""Amazon S3 North: writes files and values batches into a bucket (AWS or S3-compatible)."""

from connectors.north.aws_s3.connector import AwsS3North
from connectors.north.aws_s3.manifest import MANIFEST

__all__ = ["MANIFEST", "AwsS3North"]
