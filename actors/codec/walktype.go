package codec

import (
	"encoding"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// A target is what the allocation walk (budget.go) needs to know about a
// Go type that CBOR is decoded into: how the CBOR library treats each
// kind of item for that type and what it allocates doing so. The model
// follows the decoding options of newDecMode.

// targetKind classifies a type the way the CBOR decoder dispatches on it.
type targetKind uint8

const (
	tkOther  targetKind = iota // kinds the decoder cannot fill: every non-null item is an error
	tkBool                     // bool kind
	tkInt                      // signed integer kinds
	tkUint                     // unsigned integer kinds (not uintptr)
	tkFloat                    // float kinds
	tkString                   // string kind
	tkSlice                    // slice kind
	tkArray                    // array kind
	tkMap                      // map kind
	tkStruct                   // struct kind
	tkAny                      // interface without methods: generic shapes
	tkIface                    // interface with methods: every non-null item is an error
	tkTime                     // time.Time
	tkTag                      // cbor.Tag
	tkSelf                     // a type with an UnmarshalCBOR method
)

// target describes one Go type. Targets form a graph (recursive types
// point back to themselves); they are built once per type and never
// modified afterwards.
type target struct {
	kind targetKind
	// nullable: the type is a pointer or interface, so null sets it to nil
	// without allocating.
	nullable bool
	// ptrCost is what allocating the pointed-to values costs when the
	// type is a (chain of) pointer(s) and the item is not null.
	ptrCost int64
	// binary: byte strings go to an UnmarshalBinary method.
	binary bool
	// bigInt: the type is big.Int, which integers and bignums fill.
	bigInt bool
	// byteElems: slice or array of a uint8 kind, which byte strings fill.
	byteElems bool
	// bits is the size of a numeric kind in bits.
	bits int
	// arrayLen is the length of an array type.
	arrayLen int
	// elem is the element type of slices, arrays and maps; key the key
	// type of maps.
	elem, key *target
	// keySize is the size of a map's key, elemSize that of a slice or
	// map element; mapTemps is what the decoder allocates to decode map
	// entries into.
	keySize, elemSize, mapTemps int64
	// keyCheck: map keys of this type are checked for hashability at run
	// time, which fails for some values.
	keyCheck bool
	// st describes struct types.
	st *structTarget
	// errCost is charged for each item that fails to decode into the type:
	// the decoder allocates an error value per failed item.
	errCost int64
	// amp bounds what the walk charges per byte of input decoded into the
	// type (see computeAmp).
	amp int64
}

// structTarget is the decoder's view of a struct type.
type structTarget struct {
	invalid bool // the decoder rejects the type (malformed keyasint tag)
	toArray bool // encoded as an array of its fields
	// fields in the order the decoder uses for toarray structs.
	fields []fieldTarget
	byName map[string]int
	byInt  map[int64]int
	// seenCost is what tracking matched fields costs per struct item.
	seenCost int64
}

// fieldTarget is one visible field of a struct.
type fieldTarget struct {
	t *target
	// embedCost is what allocating nil embedded struct pointers on the
	// field's path costs.
	embedCost int64
	// errCost is charged when the field's value fails: the decoder names
	// the struct field in the error.
	errCost int64
}

var (
	typeTime        = reflect.TypeFor[time.Time]()
	typeBigInt      = reflect.TypeFor[big.Int]()
	typeTag         = reflect.TypeFor[cbor.Tag]()
	typeUnmarshaler = reflect.TypeFor[cbor.Unmarshaler]()
	typeBinaryUnm   = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// Allocation costs, in bytes, of what the decoder allocates for one item
// beyond the value it stores. They are upper bounds measured against the
// CBOR library and the Go runtime, with margin.
const (
	// costBox is boxing a word-sized scalar into an interface.
	costBox = 16
	// costBoxWide is boxing a slice header, a time.Time or a cbor.Tag.
	costBoxWide = 32
	// costError is one error value describing a type mismatch.
	costError = 384
	// costBigInt is converting an integer that overflows 64 bits to a
	// big.Int, or reporting that it does not fit.
	costBigInt = 512
	// costTime is decoding a valid time string with a zone offset other
	// than UTC's: the decoder creates a fixed time zone for it, and so does
	// the walk's own parse.
	costTime = 512
	// maxTimeText is the longest time text the walk parses itself; longer
	// text is charged as if it failed.
	maxTimeText = 64
	// costPerTimeByte is charged per byte of a time string that does not
	// parse: the error quotes the text several times.
	costPerTimeByte = 64
	// costPerBignumByte is charged per byte of a bignum's content: the
	// decoder builds a big.Int and may format it in an error.
	costPerBignumByte = 16
	// costSelfBase and costSelfPerByte are charged for an item handed to an
	// UnmarshalCBOR or UnmarshalBinary method, which typically copies it.
	costSelfBase    = 256
	costSelfPerByte = 2
	// costMapHeader is the header of a map, costMapTables the directory
	// of its tables once it outgrows one group.
	costMapHeader = 64
	costMapTables = 512
)

// maxCost saturates cost arithmetic; any budget is far below it.
const maxCost = math.MaxInt64 / 4

// addCost returns a+b, saturating at maxCost.
func addCost(a, b int64) int64 {
	if a >= maxCost-b {
		return maxCost
	}
	return a + b
}

// mulCost returns n*each, saturating at maxCost.
func mulCost(n, each int64) int64 {
	if n <= 0 || each <= 0 {
		return 0
	}
	if n > maxCost/each {
		return maxCost
	}
	return n * each
}

// heapCost bounds what the Go allocator uses for one object of n bytes:
// small objects are rounded up to a size class (at most a quarter more
// above 128 bytes, a multiple of 16 below), large ones to 8 KiB pages.
func heapCost(n int64) int64 {
	switch {
	case n <= 0:
		return 0
	case n <= 8:
		return 8
	case n <= 128:
		return (n + 15) &^ 15
	case n <= 32<<10:
		return n + n/4
	case n >= maxCost:
		return maxCost
	}
	return (n + 8191) &^ 8191
}

// mapCost bounds what a map of n entries with key and element sizes ks
// and es costs. Go maps keep up to 8 entries in one group (a control word
// and 8 slots); larger maps size their tables for the hint up to a power
// of two at a load of 7/8, and store keys and elements of more than 128
// bytes out of line. A map made without a size hint (grow) copies its
// tables as it grows, which doubles the cost per entry.
func mapCost(n, ks, es int64, grow bool) int64 {
	if n == 0 {
		return costMapHeader
	}
	slot, out := mapSlot(ks, es)
	c := int64(costMapHeader)
	if n <= 8 {
		c = addCost(c, heapCost(8+8*slot))
	} else {
		c = addCost(c, addCost(costMapTables, mulCost(n, mapEntryCost(slot, grow))))
	}
	return addCost(c, mulCost(n, out))
}

// mapSlot returns the size of one slot of a map with key and element
// sizes ks and es, and what its entries allocate out of line.
func mapSlot(ks, es int64) (slot, out int64) {
	for _, s := range []int64{ks, es} {
		if s > 128 {
			slot += 8
			out = addCost(out, heapCost(s))
		} else {
			slot += (s + 7) &^ 7
		}
	}
	return slot, out
}

// mapEntryCost is what each entry of a map of more than 8 entries costs
// in its tables.
func mapEntryCost(slot int64, grow bool) int64 {
	c := 3 * (slot + 1)
	if grow {
		c *= 2
	}
	return c
}

// mapAmp bounds what mapCost charges for one map head and one entry: the
// largest share a map can take per byte of input.
func mapAmp(ks, es int64, grow bool) int64 {
	slot, out := mapSlot(ks, es)
	return costMapHeader + costMapTables + heapCost(8+8*slot) + mapEntryCost(slot, grow) + out
}

// Per-byte bounds that do not depend on the type: costAmpItem covers every
// fixed charge one item can draw besides those computeAmp adds up (boxes,
// big.Int, times, items handed to a method, unknown struct keys);
// costAmpByte every charge per byte of string content (copies, time text
// that fails, bignums, bytes handed to a method).
const (
	costAmpItem = 1024
	costAmpByte = 128
)

// computeAmp bounds what the walk charges per byte of input decoded into
// t. Every charge is made for one item head (at least one byte) or for the
// bytes of a string, and the charges one head can draw come from the
// categories below, each bounded by its largest value over the types
// reachable from t; so their sum bounds the charge per byte, and
// amp*len(input) bounds the whole walk but for the value decoded into.
func computeAmp(t *target) int64 {
	var ptr, errs, field, seen, maps, slice int64
	errs = costError
	generic := false
	visited := map[*target]bool{}
	stack := []*target{t}
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if u == nil || visited[u] {
			continue
		}
		visited[u] = true
		ptr, errs = max(ptr, u.ptrCost), max(errs, u.errCost)
		switch u.kind {
		case tkAny, tkTag:
			generic = true
		case tkSlice:
			slice = max(slice, heapCost(u.elemSize)+u.elemSize/4+16)
			stack = append(stack, u.elem)
		case tkArray:
			stack = append(stack, u.elem)
		case tkMap:
			maps = max(maps, addCost(u.mapTemps, mapAmp(u.keySize, u.elemSize, false)))
			stack = append(stack, u.key, u.elem)
		case tkStruct:
			seen = max(seen, u.st.seenCost)
			for _, f := range u.st.fields {
				field = max(field, addCost(f.errCost, f.embedCost))
				stack = append(stack, f.t)
			}
		}
	}
	if generic {
		// []any elements and map[any]any entries.
		slice = max(slice, 16+4+16)
		maps = max(maps, mapAmp(16, 16, true))
	}
	amp := int64(costAmpItem + costAmpByte)
	for _, c := range []int64{ptr, errs, field, seen, maps, slice} {
		amp = addCost(amp, c)
	}
	return amp
}

// targets memoises targetOf; like the type caches of the CBOR library it
// depends only on the type.
var targets sync.Map // reflect.Type -> *target

// targetOf returns the target for t, building the graph of every type
// reachable from it on first use.
func targetOf(t reflect.Type) *target {
	if tg, ok := targets.Load(t); ok {
		return tg.(*target)
	}
	built := map[reflect.Type]*target{}
	tg := buildTarget(t, built)
	for _, b := range built {
		b.amp = computeAmp(b)
	}
	for bt, b := range built {
		targets.LoadOrStore(bt, b)
	}
	return tg
}

// maxPointerChain bounds pointer chains; a type such as `type P *P` has
// no end.
const maxPointerChain = 64

func buildTarget(t reflect.Type, built map[reflect.Type]*target) *target {
	if tg, ok := built[t]; ok {
		return tg
	}
	if v, ok := targets.Load(t); ok {
		return v.(*target)
	}
	tg := &target{errCost: costError + int64(2*len(t.String()))}
	built[t] = tg
	tg.nullable = t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface
	nt := t
	for i := 0; nt.Kind() == reflect.Pointer; i++ {
		if i == maxPointerChain {
			tg.kind = tkOther
			return tg
		}
		tg.ptrCost = addCost(tg.ptrCost, heapCost(int64(nt.Elem().Size())))
		nt = nt.Elem()
	}
	pt := reflect.PointerTo(nt)
	tg.binary = pt.Implements(typeBinaryUnm)
	switch {
	case nt.Kind() == reflect.Interface:
		tg.kind = tkIface
		if nt.NumMethod() == 0 {
			tg.kind = tkAny
		}
		return tg
	case nt == typeTag:
		tg.kind = tkTag
		return tg
	case nt == typeTime:
		tg.kind = tkTime
		return tg
	case pt.Implements(typeUnmarshaler):
		tg.kind = tkSelf
		return tg
	}
	switch nt.Kind() {
	case reflect.Bool:
		tg.kind = tkBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		tg.kind, tg.bits = tkInt, nt.Bits()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		tg.kind, tg.bits = tkUint, nt.Bits()
	case reflect.Float32, reflect.Float64:
		tg.kind, tg.bits = tkFloat, nt.Bits()
	case reflect.String:
		tg.kind = tkString
	case reflect.Slice:
		tg.kind = tkSlice
		tg.byteElems = nt.Elem().Kind() == reflect.Uint8
		tg.elemSize = int64(nt.Elem().Size())
		tg.elem = buildTarget(nt.Elem(), built)
	case reflect.Array:
		tg.kind = tkArray
		tg.byteElems = nt.Elem().Kind() == reflect.Uint8
		tg.arrayLen = nt.Len()
		tg.elem = buildTarget(nt.Elem(), built)
	case reflect.Map:
		tg.kind = tkMap
		tg.keySize, tg.elemSize = int64(nt.Key().Size()), int64(nt.Elem().Size())
		tg.mapTemps = heapCost(tg.keySize) + heapCost(tg.elemSize)
		tg.keyCheck = needsHashCheck(nt.Key())
		tg.key = buildTarget(nt.Key(), built)
		tg.elem = buildTarget(nt.Elem(), built)
	case reflect.Struct:
		tg.kind = tkStruct
		tg.bigInt = nt == typeBigInt
		tg.st = buildStruct(nt, built)
	default:
		tg.kind = tkOther
	}
	return tg
}

// needsHashCheck reports whether map keys of type t may hold values that
// cannot be map keys (slices, maps), which the decoder checks per key.
func needsHashCheck(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Array:
		return needsHashCheck(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if needsHashCheck(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// cborField is a struct field as the CBOR library sees it: visible by the
// rules of encoding/json (shallowest wins, then a tagged name), named by
// its cbor tag, else its json tag, else its Go name.
type cborField struct {
	name     string
	nameInt  int64
	keyAsInt bool
	tagged   bool
	index    []int
	typ      reflect.Type
}

// cborFields returns the visible fields of struct type t in index order,
// whether t has the toarray option, and whether the decoder rejects t.
func cborFields(t reflect.Type) (fields []cborField, toArray, invalid bool) {
	if f, ok := t.FieldByName("_"); ok {
		if tag := f.Tag.Get("cbor"); tag != "-" {
			// Only the first occurrence counts, as in the CBOR library.
			i := strings.Index(tag, ",toarray")
			toArray = i >= 0 && (len(tag) == i+len(",toarray") || tag[i+len(",toarray")] == ',')
		}
	}
	type embedded struct {
		t     reflect.Type
		index []int
	}
	var all []cborField
	visited := map[reflect.Type]bool{t: true}
	level := []embedded{{t: t}}
	for len(level) > 0 {
		next := map[reflect.Type][][]int{}
		var order []reflect.Type
		for _, e := range level {
			for i := range e.t.NumField() {
				f := e.t.Field(i)
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.IsExported() && (!f.Anonymous || ft.Kind() != reflect.Struct) {
					continue
				}
				tag := f.Tag.Get("cbor")
				if tag == "" {
					tag = f.Tag.Get("json")
				}
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(append([]int(nil), e.index...), i)
				if f.Anonymous && ft.Kind() == reflect.Struct && name == "" {
					if _, ok := next[ft]; !ok {
						order = append(order, ft)
					}
					next[ft] = append(next[ft], index)
					continue
				}
				cf := cborField{name: name, tagged: tag != "", index: index, typ: f.Type}
				if name == "" {
					cf.name = f.Name
				}
				cf.keyAsInt = slices.Contains(strings.Split(opts, ","), "keyasint")
				all = append(all, cf)
			}
		}
		level = level[:0:0]
		for _, ft := range order {
			// Several embeddings of one type at one level hide each
			// other; a type seen at a shallower level is not visited again.
			if idx := next[ft]; len(idx) == 1 && !visited[ft] {
				visited[ft] = true
				level = append(level, embedded{t: ft, index: idx[0]})
			}
		}
	}
	for i := range all {
		if all[i].keyAsInt {
			n, err := strconv.Atoi(all[i].name)
			if err != nil {
				continue
			}
			all[i].nameInt, all[i].name = int64(n), strconv.Itoa(n)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		switch {
		case a.name != b.name:
			return a.name < b.name
		case a.keyAsInt != b.keyAsInt:
			return a.keyAsInt
		case len(a.index) != len(b.index):
			return len(a.index) < len(b.index)
		}
		return a.tagged && !b.tagged
	})
	for i := 0; i < len(all); {
		a := all[i]
		j := i + 1
		for j < len(all) && all[j].name == a.name && all[j].keyAsInt == a.keyAsInt {
			j++
		}
		if j == i+1 || len(a.index) < len(all[i+1].index) || (a.tagged && !all[i+1].tagged) {
			fields = append(fields, a)
		}
		i = j
	}
	sort.Slice(fields, func(i, j int) bool {
		a, b := fields[i].index, fields[j].index
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	for _, f := range fields {
		if f.keyAsInt && f.nameInt == 0 {
			if _, err := strconv.Atoi(f.name); err != nil {
				invalid = true
			}
		}
	}
	return fields, toArray, invalid
}

func buildStruct(t reflect.Type, built map[reflect.Type]*target) *structTarget {
	fields, toArray, invalid := cborFields(t)
	st := &structTarget{invalid: invalid, toArray: toArray}
	if invalid {
		return st
	}
	if len(fields) > 128 {
		st.seenCost = heapCost(int64(len(fields)))
	}
	nameLen := len(t.String())
	if !toArray {
		st.byName = map[string]int{}
	}
	for i, f := range fields {
		ft := fieldTarget{
			t:       buildTarget(f.typ, built),
			errCost: heapCost(int64(nameLen + 1 + len(f.name))),
		}
		// Nil pointers to embedded structs on the path are allocated, or,
		// when unexported, reported as an error.
		cur := t
		for _, x := range f.index[:len(f.index)-1] {
			sf := cur.Field(x)
			cur = sf.Type
			if cur.Kind() == reflect.Pointer {
				cur = cur.Elem()
				ft.embedCost = addCost(ft.embedCost, heapCost(int64(cur.Size())))
				if !sf.IsExported() {
					ft.embedCost = addCost(ft.embedCost, costError+int64(2*len(cur.String())))
				}
			}
		}
		st.fields = append(st.fields, ft)
		switch {
		case toArray:
		case f.keyAsInt:
			if st.byInt == nil {
				st.byInt = map[int64]int{}
			}
			st.byInt[f.nameInt] = i
		default:
			st.byName[f.name] = i
		}
	}
	return st
}
