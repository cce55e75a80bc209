// One DynamoDB request through the AWS SDK for JavaScript v3 (@aws-sdk/client-dynamodb), for
// tests/test_sandbox_node_sdk.py: the third client of issue 21's attacks on the sandbox.
//
// stdin: one JSON job
//   {"endpoint": "http://127.0.0.1:PORT", "region": "us-east-1",
//    "credentials": {"accessKeyId": ..., "secretAccessKey": ..., "sessionToken": ...},
//    "operation": "ExecuteStatement", "input": {...the command's input, DynamoDB JSON...}}
// stdout: one JSON outcome
//   {"ok": true, "items": [...] or null, "output": {...}}              the call succeeded
//   {"ok": false, "name": err.name, "message": ..., "status": 400}    the SDK raised
// The credentials are passed explicitly: no profile or config file is read.
import * as ddb from "@aws-sdk/client-dynamodb";

function items(output) {
  if (Array.isArray(output.Items)) return output.Items;  // ExecuteStatement, Scan, Query
  if (Array.isArray(output.Responses)) return output.Responses.map((r) => r.Item ?? null);  // TransactGetItems
  if (output.Item !== undefined) return [output.Item];  // GetItem
  return null;
}

async function main() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  const job = JSON.parse(text);
  const Command = ddb[`${job.operation}Command`];
  if (typeof Command !== "function") {
    throw new Error(`@aws-sdk/client-dynamodb has no ${job.operation}Command`);
  }
  const client = new ddb.DynamoDBClient({
    endpoint: job.endpoint,
    region: job.region,
    credentials: job.credentials,
    maxAttempts: 1,  // an error is the answer under test, not something to retry
  });
  let outcome;
  try {
    const output = await client.send(new Command(job.input ?? {}));
    const { $metadata, ...rest } = output;
    outcome = { ok: true, items: items(rest), output: rest };
  } catch (err) {
    if (err?.$metadata === undefined) throw err;  // not an answer of the service: a broken job
    outcome = { ok: false, name: err.name, message: err.message, status: err.$metadata.httpStatusCode ?? null };
  } finally {
    client.destroy();
  }
  process.stdout.write(JSON.stringify(outcome) + "\n");
}

main().catch((err) => {
  process.stderr.write(`attack.mjs: ${err?.stack ?? err}\n`);
  process.exit(2);
});
