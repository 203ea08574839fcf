// Package agent is credence's node agent: the one local service that writes
// the measurement log and extends the TPM, fed by an OCI createRuntime hook and an NRI plugin.
//
// Every trigger fails closed: when a start cannot be measured (the agent is
// down, the TPM does not answer, the log cannot be written) the hook exits
// non-zero and the NRI plugin returns an error, so the runtime does not
// start the container. The agent's unix socket is the only way in and is
// root-only (0600): whoever can write to it can add container.start records.
//
// Pieces: [Service] (the measurement service: log, TPM, agent.start),
// [Service.Handler] and [Client] (its HTTP API on a unix socket), package
// ocihook (the createRuntime hook), [Plugin] (the NRI plugin), [BuildOCI] and
// [BuildNRI] (container.start events from each trigger), [InstallHooksDir]
// and [InstallInSpec] (hook configuration for runc-based runtimes).
package agent
