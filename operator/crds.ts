// CustomResourceDefinition manifests built from the schemas in resources.ts. operator/crds/*.yaml are this output,
// written by `node dist/operator/write-crds.js` and checked against it by crds.test.ts, so they never drift.
import { stringify } from "yaml";
import { definitions, group, version, type JsonSchema, type ResourceDefinition } from "./resources.js";

export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string };
  spec: Record<string, unknown>;
}

export function customResourceDefinition(definition: ResourceDefinition): CustomResourceDefinition {
  const schema: JsonSchema = {
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec: definition.specSchema,
      status: definition.statusSchema,
    },
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${definition.plural}.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: {
        kind: definition.kind,
        listKind: `${definition.kind}List`,
        plural: definition.plural,
        singular: definition.singular,
        shortNames: definition.shortNames,
        categories: ["livehost"],
      },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {} },
          additionalPrinterColumns: definition.printerColumns,
        },
      ],
    },
  };
}

/** File name in operator/crds/ of each definition, e.g. livehost.io_workerpools.yaml (controller-gen's naming). */
export const crdFileName = (definition: ResourceDefinition) => `${group}_${definition.plural}.yaml`;

export function crdYaml(definition: ResourceDefinition): string {
  return `# Generated from operator/resources.ts by operator/write-crds.ts: do not edit.\n${stringify(
    customResourceDefinition(definition),
    { lineWidth: 0 },
  )}`;
}

export const crdFiles = () => definitions.map((d) => ({ name: crdFileName(d), text: crdYaml(d) }));
