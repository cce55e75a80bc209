"""xacct-nb: cross-account DynamoDB access runbooks.

Provision an IAM role in the main account that the consumer account may assume (one policy per
table and access level), let a consumer principal assume it, and read the remote tables as pandas
DataFrames. Every function takes its boto3.Session explicitly.
"""

__version__ = "0.1.0"
