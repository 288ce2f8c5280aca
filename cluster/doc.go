// Package cluster assembles nodes from system actors: the GCS (nodes, jobs,
// actors and their names), the raylet (local resources, task queue, executor
// pool, supervised actor hosts) and a node's start and stop. An embedded node
// runs all of them, with the placement actor and the object store and
// directory, in one process.
package cluster
