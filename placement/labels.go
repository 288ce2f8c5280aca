package placement

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// Well-known node labels: every node carries them, set when it starts.
const (
	LabelNodeID          = "goray/node-id"
	LabelHostname        = "goray/hostname"
	LabelOS              = "goray/os"
	LabelArch            = "goray/arch"
	LabelAcceleratorType = "goray/accelerator-type"
)

// DefaultLabels returns the labels a node carries without being told:
// its ID, host name, operating system and architecture, and its
// accelerator type when it has one (empty: none). User labels are merged
// over them by the caller; the node ID cannot be overridden.
func DefaultLabels(nodeID, hostname, accelerator string) map[string]string {
	l := map[string]string{
		LabelNodeID: nodeID,
		LabelOS:     runtime.GOOS,
		LabelArch:   runtime.GOARCH,
	}
	if hostname != "" {
		l[LabelHostname] = hostname
	}
	if accelerator != "" {
		l[LabelAcceleratorType] = accelerator
	}
	return l
}

// LabelOp is the operator of one label expression.
type LabelOp int

const (
	// OpIn matches a node whose label has one of the values.
	OpIn LabelOp = iota
	// OpNotIn matches a node whose label is absent or has none of the
	// values.
	OpNotIn
	// OpExists matches a node that has the label, whatever its value.
	OpExists
	// OpDoesNotExist matches a node without the label.
	OpDoesNotExist
)

var labelOpNames = [...]string{"in", "notin", "exists", "!exists"}

func (o LabelOp) String() string {
	if o >= 0 && int(o) < len(labelOpNames) {
		return labelOpNames[o]
	}
	return fmt.Sprintf("LabelOp(%d)", int(o))
}

// LabelExpr is one condition on a node's labels.
type LabelExpr struct {
	Key    string
	Op     LabelOp
	Values []string // for OpIn and OpNotIn
}

func (e LabelExpr) String() string {
	switch e.Op {
	case OpExists:
		return e.Key
	case OpDoesNotExist:
		return "!" + e.Key
	case OpIn:
		if len(e.Values) == 1 {
			return e.Key + "=" + e.Values[0]
		}
		return e.Key + " in (" + strings.Join(e.Values, ",") + ")"
	case OpNotIn:
		if len(e.Values) == 1 {
			return e.Key + "!=" + e.Values[0]
		}
		return e.Key + " notin (" + strings.Join(e.Values, ",") + ")"
	}
	return fmt.Sprintf("%s %v %v", e.Key, e.Op, e.Values)
}

// Matches reports whether labels satisfy e.
func (e LabelExpr) Matches(labels map[string]string) bool {
	v, ok := labels[e.Key]
	switch e.Op {
	case OpIn:
		return ok && slices.Contains(e.Values, v)
	case OpNotIn:
		return !ok || !slices.Contains(e.Values, v)
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	}
	return false
}

// Selector is a conjunction of label expressions: a node matches when it
// satisfies every one. The empty selector matches every node.
type Selector []LabelExpr

// Matches reports whether labels satisfy every expression of s.
func (s Selector) Matches(labels map[string]string) bool {
	for _, e := range s {
		if !e.Matches(labels) {
			return false
		}
	}
	return true
}

func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

// Validate checks every expression: a non-empty key, a known operator,
// at least one value for in and notin and none for exists and !exists.
// It fails with ErrInvalidRequest.
func (s Selector) Validate() error {
	for i, e := range s {
		switch {
		case e.Key == "":
			return fmt.Errorf("%w: label selector expression %d names no label", ErrInvalidRequest, i)
		case e.Op < OpIn || e.Op > OpDoesNotExist:
			return fmt.Errorf("%w: label selector %q: unknown operator %v", ErrInvalidRequest, e.Key, e.Op)
		case (e.Op == OpIn || e.Op == OpNotIn) && len(e.Values) == 0:
			return fmt.Errorf("%w: label selector %q %v: no values", ErrInvalidRequest, e.Key, e.Op)
		case (e.Op == OpExists || e.Op == OpDoesNotExist) && len(e.Values) > 0:
			return fmt.Errorf("%w: label selector %q %v takes no values", ErrInvalidRequest, e.Key, e.Op)
		}
	}
	return nil
}

// SelectorOf turns an equality map into a selector, in key order.
func SelectorOf(m map[string]string) Selector {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := make(Selector, len(keys))
	for i, k := range keys {
		s[i] = LabelExpr{Key: k, Op: OpIn, Values: []string{m[k]}}
	}
	return s
}
