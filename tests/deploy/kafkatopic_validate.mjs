// Validates KafkaTopic resources against Strimzi's CRD schema, as compiled by kubernetes-models.
// usage: node kafkatopic_validate.mjs <node_modules dir> < documents.json   (a JSON array)
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const modules = process.argv[2];
const { KafkaTopic } = await import(
  pathToFileURL(join(modules, "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaTopic.js")).href
);
const docs = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const doc of docs) {
  try {
    new KafkaTopic(doc).validate();
  } catch (err) {
    failed++;
    console.log(`${doc.metadata?.name}: ${err.message}`);
  }
}
console.log(`${docs.length - failed} valid, ${failed} invalid`);
process.exit(failed ? 1 : 0);
