// Package graph builds the trust graph of a cluster snapshot (network reach,
// RBAC, escapes to the node, tokens, shared volumes) and answers blast-radius
// queries from one container with explained paths and the changes that cut them.
package graph
