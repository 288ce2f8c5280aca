package cli

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray"
)

func newStatus(tempDir *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's nodes, their resources, and the work waiting for resources",
		Long: `Show the cluster's nodes (ID, address, ALIVE or DEAD, resources used/total,
where used = total − available), the resources of the live nodes together,
and the demands: tasks waiting for resources (QUEUED at their node, or
WAITING_FOR_NODE), grouped by resource shape, and PENDING actors by type.
A demand is infeasible when no live node has that much in total. A node's
address is where it gossips: any of them is an address to join the cluster
at, or to ask it with --address.

Drivers (including this command's own) are nodes of the cluster too, without
resources; status leaves them out ('list nodes --include-drivers' shows them).

--output json prints one object: head_address (where status asked); nodes,
each with node_id, address, state, total, available and labels; resources
(total and used of the live nodes); demands (pending and infeasible, each a
list of kind, resources or type, state and count); unreachable, the live
nodes that did not say what tasks they hold in time (node_id, address, role,
error), whose task demands are then unknown; warnings.`,
		Args: cobra.NoArgs,
	}
	return queryCommand(tempDir, cmd, true, func(cmd *cobra.Command, _ []string, c cluster, q *queryFlags) error {
		report, err := collectStatus(c)
		if err != nil {
			return err
		}
		if q.output == "json" {
			return writeJSON(cmd.OutOrStdout(), report)
		}
		return printStatus(cmd.OutOrStdout(), report)
	})
}

// collectStatus asks the cluster what status shows.
func collectStatus(c cluster) (statusReport, error) {
	nodes, err := goray.Nodes(c.ctx)
	if err != nil {
		return statusReport{}, fmt.Errorf("listing nodes: %w", err)
	}
	actors, err := goray.ListActors(c.ctx)
	if err != nil {
		return statusReport{}, fmt.Errorf("listing actors: %w", err)
	}
	tasks, silent, err := askNodes(c, goray.ListTasks)
	if err != nil {
		return statusReport{}, fmt.Errorf("listing tasks: %w", err)
	}
	groups, err := goray.ListPlacementGroups(c.ctx)
	if err != nil {
		return statusReport{}, fmt.Errorf("listing placement groups: %w", err)
	}
	r := buildStatus(c.address, nodes, tasks, actors, groups)
	r.Unreachable = unreachable(nodes, silent)
	if len(silent) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("task demands unknown on %s that did not answer within %v", nodesNoun(len(silent)), nodeQueryTimeout))
	}
	return r, nil
}

func printStatus(w io.Writer, r statusReport) error {
	alive := 0
	for _, n := range r.Nodes {
		if n.State == "ALIVE" {
			alive++
		}
	}
	fmt.Fprintf(w, "Cluster at %s: %d nodes alive, %d dead\n\n", r.HeadAddress, alive, len(r.Nodes)-alive)
	tw := newTable(w)
	fmt.Fprintln(tw, "NODE ID\tADDRESS\tSTATE\tRESOURCES (USED/TOTAL)")
	for _, n := range r.Nodes {
		res := formatResources(n.Total)
		if n.State == "ALIVE" {
			res = formatUsage(n.used(), n.Total)
		}
		addr := n.Address
		if n.head {
			addr += " (head)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.NodeID, addr, n.State, res)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nResources of the live nodes (used/total):\n")
	tw = newTable(w)
	for _, k := range resourceOrder(r.Resources.Total) {
		fmt.Fprintf(tw, "  %s\t%s/%s\n", k, formatAmount(k, r.Resources.Used[k]), formatAmount(k, r.Resources.Total[k]))
	}
	if len(r.Resources.Total) == 0 {
		fmt.Fprintln(tw, "  (none)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Unreachable) > 0 {
		var parts []string
		for _, n := range r.Unreachable {
			parts = append(parts, n.NodeID+" ("+cmp.Or(n.Role, "node")+", "+n.Address+")")
		}
		fmt.Fprintf(w, "\nAlive but not answering: %s\n", strings.Join(parts, ", "))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\nWarning: %s\n", warn)
	}
	fmt.Fprintln(w, "\nPending demands:")
	none := "(no tasks or actors waiting for resources)"
	if len(r.Unreachable) > 0 {
		none = "(no actors waiting for resources; task demands unknown)"
	}
	printDemands(w, r.Demands.Pending, none)
	if len(r.Demands.Infeasible) > 0 {
		fmt.Fprintln(w, "\nInfeasible demands (no live node has these resources):")
		printDemands(w, r.Demands.Infeasible, "")
	}
	return nil
}

func printDemands(w io.Writer, ds []demand, none string) {
	if len(ds) == 0 {
		fmt.Fprintln(w, "  "+none)
	}
	for _, d := range ds {
		what := d.Type
		switch d.Kind {
		case "task":
			what = "{" + formatResources(d.Resources) + "}"
		case "placement_group":
			what = "placement group " + d.Type + " {" + formatResources(d.Resources) + "}"
		}
		noun := d.Kind
		if d.Count != 1 {
			noun += "s"
		}
		state := strings.ToLower(d.State)
		if d.State == "WAITING_FOR_NODE" {
			state = "waiting for a node with room"
		}
		line := fmt.Sprintf("  %s: %d %s %s", what, d.Count, noun, state)
		if d.Kind == "placement_group" {
			line = fmt.Sprintf("  %s: %s", what, strings.ToLower(d.State))
		}
		if d.Reason != "" {
			line += " (" + d.Reason + ")"
		}
		fmt.Fprintln(w, line)
	}
}
