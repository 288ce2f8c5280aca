package pb

// Validation of the scheduling and placement-group messages.

// MaxBundles bounds the bundles of one placement group.
const MaxBundles = 10_000

func checkLabelOp(typ, field string, op LabelOp) error {
	if _, ok := LabelOp_name[int32(op)]; !ok {
		return invalid(typ, field, "undefined LabelOp %d", int32(op))
	}
	return nil
}

// Validate checks the key, the operator and that the values suit it.
func (e *LabelExpr) Validate() error {
	const t = "LabelExpr"
	if e == nil {
		return nilMessage(t)
	}
	if err := firstError(checkName(t, "key", e.Key), checkLabelOp(t, "op", e.Op)); err != nil {
		return err
	}
	if len(e.Values) > MaxMapEntries {
		return invalid(t, "values", "%d values, more than %d", len(e.Values), MaxMapEntries)
	}
	for i, v := range e.Values {
		if len(v) > MaxNameLen {
			return checkLen(t, index("values", i), v, MaxNameLen)
		}
	}
	switch e.Op {
	case LabelOp_LABEL_OP_IN, LabelOp_LABEL_OP_NOT_IN:
		if len(e.Values) == 0 {
			return invalid(t, "values", "none, want one or more for %v", e.Op)
		}
	default:
		if len(e.Values) > 0 {
			return invalid(t, "values", "%d values, want none for %v", len(e.Values), e.Op)
		}
	}
	return nil
}

func checkSelector(typ, field string, sel []*LabelExpr) error {
	if len(sel) > MaxMapEntries {
		return invalid(typ, field, "%d expressions, more than %d", len(sel), MaxMapEntries)
	}
	for i, e := range sel {
		if err := e.Validate(); err != nil {
			return nested(typ, index(field, i), err)
		}
	}
	return nil
}

// checkScheduling checks an optional Scheduling.
func checkScheduling(typ, field string, s *Scheduling) error {
	if s == nil {
		return nil
	}
	if err := s.Validate(); err != nil {
		return nested(typ, field, err)
	}
	return nil
}

// Validate checks the strategy, the affinity node it needs, the selectors
// and the placement group and bundle index.
func (s *Scheduling) Validate() error {
	const t = "Scheduling"
	if s == nil {
		return nilMessage(t)
	}
	affinity := checkOptionalHexID(t, "affinity_node", s.AffinityNode)
	if s.Strategy == Strategy_STRATEGY_NODE_AFFINITY {
		affinity = checkHexID(t, "affinity_node", s.AffinityNode)
	}
	bundle := error(nil)
	if s.BundleIndex < -1 || s.BundleIndex >= MaxBundles {
		bundle = invalid(t, "bundle_index", "%d, want -1 (any) to %d", s.BundleIndex, MaxBundles-1)
	}
	return firstError(
		checkStrategy(t, "strategy", s.Strategy),
		affinity,
		checkSelector(t, "selector", s.Selector),
		checkSelector(t, "prefer", s.Prefer),
		checkOptionalID(t, "placement_group", s.PlacementGroup),
		bundle,
	)
}

// Validate checks the resources and the selector.
func (b *Bundle) Validate() error {
	const t = "Bundle"
	if b == nil {
		return nilMessage(t)
	}
	return firstError(checkResources(t, "resources", b.Resources), checkSelector(t, "selector", b.Selector))
}

func checkGroupStrategy(typ, field string, s GroupStrategy) error {
	if _, ok := GroupStrategy_name[int32(s)]; !ok {
		return invalid(typ, field, "undefined GroupStrategy %d", int32(s))
	}
	return nil
}

func checkGroupState(typ, field string, s GroupState) error {
	if _, ok := GroupState_name[int32(s)]; !ok {
		return invalid(typ, field, "undefined GroupState %d", int32(s))
	}
	return nil
}

// Validate checks the ID, names, strategy, job and every bundle (one at
// least).
func (s *PlacementGroupSpec) Validate() error {
	const t = "PlacementGroupSpec"
	if s == nil {
		return nilMessage(t)
	}
	if err := firstError(
		checkID(t, "group_id", s.GroupId),
		checkLen(t, "name", s.Name, MaxNameLen),
		checkLen(t, "namespace", s.Namespace, MaxNameLen),
		checkGroupStrategy(t, "strategy", s.Strategy),
		checkOptionalHexID(t, "job_id", s.JobId),
	); err != nil {
		return err
	}
	if len(s.Bundles) == 0 || len(s.Bundles) > MaxBundles {
		return invalid(t, "bundles", "%d bundles, want 1 to %d", len(s.Bundles), MaxBundles)
	}
	for i, b := range s.Bundles {
		if err := b.Validate(); err != nil {
			return nested(t, index("bundles", i), err)
		}
	}
	return nil
}

// Validate checks the spec, the state, the bundles' nodes and the reason.
func (i *PlacementGroupInfo) Validate() error {
	const t = "PlacementGroupInfo"
	if i == nil {
		return nilMessage(t)
	}
	if err := required(t, "spec", i.Spec); err != nil {
		return err
	}
	if len(i.BundleNodes) > len(i.Spec.Bundles) {
		return invalid(t, "bundle_nodes", "%d nodes for %d bundles", len(i.BundleNodes), len(i.Spec.Bundles))
	}
	for j, n := range i.BundleNodes {
		if n != "" && !isHexID(n) {
			return checkHexID(t, index("bundle_nodes", j), n)
		}
	}
	return firstError(
		checkGroupState(t, "state", i.State),
		checkLen(t, "reason", i.Reason, MaxTextLen),
		checkNonNegative(t, "reschedules", int64(i.Reschedules)),
	)
}

// Validate checks the spec.
func (m *CreatePlacementGroup) Validate() error {
	const t = "CreatePlacementGroup"
	if m == nil {
		return nilMessage(t)
	}
	return required(t, "spec", m.Spec)
}

// Validate checks that the reply has the group's info or an error.
func (m *PlacementGroupReply) Validate() error {
	const t = "PlacementGroupReply"
	if m == nil {
		return nilMessage(t)
	}
	if m.Info == nil && m.Error == nil {
		return invalid(t, "info", "missing, and no error either")
	}
	if m.Info != nil {
		if err := m.Info.Validate(); err != nil {
			return nested(t, "info", err)
		}
	}
	return checkError(t, "error", m.Error)
}

// Validate checks that the group is named by ID or by name.
func (m *GetPlacementGroup) Validate() error {
	const t = "GetPlacementGroup"
	if m == nil {
		return nilMessage(t)
	}
	if len(m.GroupId) == 0 && m.Name == "" {
		return invalid(t, "group_id", "missing, and no name either")
	}
	return firstError(
		checkOptionalID(t, "group_id", m.GroupId),
		checkLen(t, "name", m.Name, MaxNameLen),
		checkLen(t, "namespace", m.Namespace, MaxNameLen),
	)
}

// Validate checks the group ID.
func (m *RemovePlacementGroup) Validate() error {
	if m == nil {
		return nilMessage("RemovePlacementGroup")
	}
	return checkID("RemovePlacementGroup", "group_id", m.GroupId)
}

// Validate accepts every ListPlacementGroups.
func (m *ListPlacementGroups) Validate() error {
	if m == nil {
		return nilMessage("ListPlacementGroups")
	}
	return nil
}

// Validate checks every group.
func (m *ListPlacementGroupsReply) Validate() error {
	const t = "ListPlacementGroupsReply"
	if m == nil {
		return nilMessage(t)
	}
	for i, g := range m.Groups {
		if err := g.Validate(); err != nil {
			return nested(t, index("groups", i), err)
		}
	}
	return nil
}

// Validate checks the index and the resources.
func (g *BundleGrant) Validate() error {
	const t = "BundleGrant"
	if g == nil {
		return nilMessage(t)
	}
	bad := error(nil)
	if g.Index < 0 || g.Index >= MaxBundles {
		bad = invalid(t, "index", "%d, want 0 to %d", g.Index, MaxBundles-1)
	}
	return firstError(bad, checkResources(t, "resources", g.Resources))
}

// Validate checks the group ID and every bundle (one at least).
func (m *PrepareBundles) Validate() error {
	const t = "PrepareBundles"
	if m == nil {
		return nilMessage(t)
	}
	if err := checkID(t, "group_id", m.GroupId); err != nil {
		return err
	}
	if len(m.Bundles) == 0 || len(m.Bundles) > MaxBundles {
		return invalid(t, "bundles", "%d bundles, want 1 to %d", len(m.Bundles), MaxBundles)
	}
	for i, b := range m.Bundles {
		if err := b.Validate(); err != nil {
			return nested(t, index("bundles", i), err)
		}
	}
	return nil
}

// Validate checks the reason's length.
func (m *PrepareBundlesReply) Validate() error {
	if m == nil {
		return nilMessage("PrepareBundlesReply")
	}
	const t = "PrepareBundlesReply"
	return firstError(checkLen(t, "reason", m.Reason, MaxTextLen),
		checkResources(t, "available", m.Available),
		checkOptionalID(t, "group_id", m.GroupId),
		checkIndices(t, "indices", m.Indices),
		checkOptionalHexID(t, "node_id", m.NodeId))
}

func checkIndices(typ, field string, ix []int32) error {
	if len(ix) > MaxBundles {
		return invalid(typ, field, "%d indices, more than %d", len(ix), MaxBundles)
	}
	for i, v := range ix {
		if v < 0 || v >= MaxBundles {
			return invalid(typ, index(field, i), "%d, want 0 to %d", v, MaxBundles-1)
		}
	}
	return nil
}

// Validate checks the group ID and the indices.
func (m *CommitBundles) Validate() error {
	const t = "CommitBundles"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(checkID(t, "group_id", m.GroupId), checkIndices(t, "indices", m.Indices))
}

// Validate checks the group ID, the indices and the reason.
func (m *ReturnBundles) Validate() error {
	const t = "ReturnBundles"
	if m == nil {
		return nilMessage(t)
	}
	return firstError(checkID(t, "group_id", m.GroupId), checkIndices(t, "indices", m.Indices),
		checkLen(t, "reason", m.Reason, MaxTextLen))
}
