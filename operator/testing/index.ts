// Test support for the operator's tests only (never imported by the operator itself): a Kubernetes API server.
export { KubeApiTestServer, operatorResourceTypes, type KubeObject, type ResourceType } from "./kube-api-server.js";
export { startSecureNatsServer, type SecureNatsServer } from "./secure-nats.js";
