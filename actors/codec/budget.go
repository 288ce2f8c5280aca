package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"
)

// Decoding CBOR into a Go type can allocate far more than the input: a
// one-byte null becomes a whole element of a slice, whatever its size. So
// before a CBOR payload is decoded, a walk over it adds up what decoding
// it into the target type allocates, and refuses it (ErrTooLarge) past
// MaxAlloc.
//
// The walk follows the item together with the target type the way the CBOR
// library does (see target) and charges what the library will allocate:
// slices at their element size times their length, maps per entry, each
// pointer it fills, strings and byte strings, the generic shapes an
// interface receives, even the error values it creates for items that do
// not fit. Every figure is an upper bound, so the sum bounds the decode.
//
// The walk also checks what the library checks, by the same rules: one
// well-formed item of definite length, arrays and maps at most
// MaxElements long, nesting at most MaxDepth deep. Each array and map adds
// a level, and so does each tag whose content is itself a tag.
//
// A payload whose size proves the budget out of reach (target.amp) is not
// walked; the library's own checks then apply the same rules.
//
// Encode walks what it produced, with the default limits and the type it
// was given, unless the value's type and size prove the walk would pass,
// so that a value the default decoder would refuse is refused when it is
// encoded.

// walker holds the state of one walk.
type walker struct {
	data     []byte
	off      int
	maxDepth int
	maxElems uint64
	maxAlloc int64
	spent    int64
	// afterTag: the last head read was a tag's, so the next item is its
	// content. chained: the same, before the last head was read.
	afterTag, chained bool
	// indefinite: the last head read was an indefinite-length array or
	// map's, which enter refuses.
	indefinite bool
	// conv is what the decoder allocates to use the last generic value
	// as a map key (see genericConv).
	conv int64
}

// allocBound bounds what decoding n bytes of CBOR into t allocates,
// without looking at them.
func allocBound(t reflect.Type, tg *target, n int) int64 {
	return addCost(heapCost(int64(t.Size())), mulCost(tg.amp, int64(n)))
}

// checkCBOR walks payload as a CBOR item to be decoded into a value of
// type t under l, and returns what decoding it would allocate.
func checkCBOR(payload []byte, t reflect.Type, l *Limits) (int64, error) {
	w := walker{
		data:     payload,
		maxDepth: l.MaxDepth,
		maxElems: uint64(l.MaxElements),
		maxAlloc: int64(l.MaxAlloc),
	}
	// The decoder allocates the value it decodes into.
	if err := w.charge(heapCost(int64(t.Size()))); err != nil {
		return w.spent, err
	}
	if _, err := w.value(targetOf(t), 0, false); err != nil {
		return w.spent, err
	}
	return w.spent, w.end()
}

// checkStructure checks what the CBOR library checks before decoding,
// without a target type.
func checkStructure(payload []byte, l *Limits) error {
	w := walker{data: payload, maxDepth: l.MaxDepth, maxElems: uint64(l.MaxElements)}
	if err := w.skip(0); err != nil {
		return err
	}
	return w.end()
}

// end checks that the item took the whole payload.
func (w *walker) end() error {
	if w.off != len(w.data) {
		return fmt.Errorf("%w: %d bytes after the CBOR item", ErrMalformed, len(w.data)-w.off)
	}
	return nil
}

// charge adds n bytes to what the decode allocates.
func (w *walker) charge(n int64) error {
	w.spent = addCost(w.spent, n)
	if w.spent > w.maxAlloc {
		return fmt.Errorf("%w: decoding would allocate more than MaxAlloc %d bytes", ErrTooLarge, w.maxAlloc)
	}
	return nil
}

func (w *walker) truncated() error {
	return fmt.Errorf("%w: CBOR item truncated at byte %d", ErrMalformed, w.off)
}

// CBOR major types.
const (
	majorUint   = 0
	majorNeg    = 1
	majorBytes  = 2
	majorText   = 3
	majorArray  = 4
	majorMap    = 5
	majorTag    = 6
	majorSimple = 7
)

var majorNames = [8]string{"unsigned integer", "negative integer", "byte string", "text string", "array", "map", "tag", "simple value"}

// head reads the head of the next item.
func (w *walker) head() (major, ai byte, arg uint64, err error) {
	if w.off >= len(w.data) {
		return 0, 0, 0, w.truncated()
	}
	b := w.data[w.off]
	w.off++
	major, ai = b>>5, b&0x1f
	w.chained, w.afterTag = w.afterTag, major == majorTag
	w.indefinite = false
	switch {
	case ai < 24:
		return major, ai, uint64(ai), nil
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(w.data)-w.off < n {
			return 0, 0, 0, w.truncated()
		}
		p := w.data[w.off:]
		switch n {
		case 1:
			arg = uint64(p[0])
		case 2:
			arg = uint64(binary.BigEndian.Uint16(p))
		case 4:
			arg = uint64(binary.BigEndian.Uint32(p))
		default:
			arg = binary.BigEndian.Uint64(p)
		}
		w.off += n
		if major == majorSimple && ai == 24 && arg < 32 {
			return 0, 0, 0, fmt.Errorf("%w: invalid simple value %d", ErrMalformed, arg)
		}
		return major, ai, arg, nil
	case ai == 31 && (major == majorArray || major == majorMap):
		// Refused by enter, after the depth check, as the library does.
		w.indefinite = true
		return major, ai, 0, nil
	case ai == 31 && (major == majorBytes || major == majorText):
		return 0, 0, 0, indefiniteError(major)
	case ai == 31 && major == majorSimple:
		return 0, 0, 0, fmt.Errorf("%w: CBOR break outside an indefinite-length item", ErrMalformed)
	}
	return 0, 0, 0, fmt.Errorf("%w: invalid additional information %d for a CBOR %s", ErrMalformed, ai, majorNames[major])
}

func indefiniteError(major byte) error {
	return fmt.Errorf("%w: indefinite-length CBOR %s", ErrMalformed, majorNames[major])
}

// str consumes the n bytes of a byte or text string.
func (w *walker) str(n uint64) ([]byte, error) {
	if n > uint64(len(w.data)-w.off) {
		return nil, w.truncated()
	}
	b := w.data[w.off : w.off+int(n)]
	w.off += int(n)
	return b, nil
}

// enter checks a container at depth holding n entries (pairs for maps).
func (w *walker) enter(depth int, major byte, n uint64) error {
	if depth > w.maxDepth {
		return depthError(w.maxDepth)
	}
	if w.indefinite {
		return indefiniteError(major)
	}
	if n > math.MaxInt64 {
		return fmt.Errorf("%w: CBOR %s length %d overflows", ErrMalformed, majorNames[major], n)
	}
	if n > w.maxElems {
		return fmt.Errorf("%w: CBOR %s of %d entries exceeds MaxElements %d", ErrTooLarge, majorNames[major], n, w.maxElems)
	}
	return nil
}

// tagLevel returns the depth of the content of a tag whose head was just
// read at depth: a tag directly inside a tag adds a level.
func (w *walker) tagLevel(depth int) (int, error) {
	if !w.chained {
		return depth, nil
	}
	if depth++; depth > w.maxDepth {
		return depth, depthError(w.maxDepth)
	}
	return depth, nil
}

func depthError(maxDepth int) error {
	return fmt.Errorf("%w: CBOR nests more than %d levels deep (MaxDepth)", ErrTooLarge, maxDepth)
}

// skip consumes the next item, which is decoded into nothing.
func (w *walker) skip(depth int) error {
	major, _, arg, err := w.head()
	if err != nil {
		return err
	}
	return w.skipRest(major, arg, depth)
}

// skipRest consumes the rest of an item whose head was just read.
func (w *walker) skipRest(major byte, arg uint64, depth int) error {
	switch major {
	case majorBytes, majorText:
		_, err := w.str(arg)
		return err
	case majorArray, majorMap:
		depth++
		if err := w.enter(depth, major, arg); err != nil {
			return err
		}
		return w.skipN(arg<<(major-majorArray), depth)
	case majorTag:
		depth, err := w.tagLevel(depth)
		if err != nil {
			return err
		}
		return w.skip(depth)
	}
	return nil
}

// skipN consumes n items at depth.
func (w *walker) skipN(n uint64, depth int) error {
	for ; n > 0; n-- {
		if err := w.skip(depth); err != nil {
			return err
		}
	}
	return nil
}

// fail skips the rest of an item that does not fit t and charges the
// error the decoder creates for it.
func (w *walker) fail(t *target, depth int) (bool, error) {
	if err := w.skip(depth); err != nil {
		return true, err
	}
	return true, w.charge(t.errCost)
}

// failN is fail for the n remaining entries of a container whose head
// was read.
func (w *walker) failN(t *target, n uint64, depth int) (bool, error) {
	if err := w.skipN(n, depth); err != nil {
		return true, err
	}
	return true, w.charge(t.errCost)
}

// peek returns the initial byte of the next item, or 0 at the end (the
// following read reports the truncation).
func (w *walker) peek() byte {
	if w.off < len(w.data) {
		return w.data[w.off]
	}
	return 0
}

// isNull reports whether the next item is null or undefined.
func isNull(b byte) bool { return b == 0xf6 || b == 0xf7 }

// null consumes a null or undefined item.
func (w *walker) null() { _, _, _, _ = w.head() }

// tagsValid reports whether the tags starting at the next item enclose
// content their numbers admit: the decoder checks tags 0 to 3 (RFC 8949
// times and bignums) and fails items that break the rule.
func (w *walker) tagsValid() bool {
	off := w.off
	for off < len(w.data) && w.data[off]>>5 == majorTag {
		num, next, ok := argAt(w.data, off)
		if !ok || next >= len(w.data) {
			return true // truncated: the walk reports it
		}
		c := w.data[next]
		switch num {
		case 0:
			if c>>5 != majorText {
				return false
			}
		case 1:
			if c>>5 != majorUint && c>>5 != majorNeg && (c < 0xf9 || c > 0xfb) {
				return false
			}
		case 2, 3:
			if c>>5 != majorBytes {
				return false
			}
		}
		off = next
	}
	return true
}

// argAt returns the argument of the head at off and the offset after it.
func argAt(data []byte, off int) (arg uint64, next int, ok bool) {
	ai := data[off] & 0x1f
	off++
	if ai < 24 {
		return uint64(ai), off, true
	}
	if ai > 27 {
		return 0, 0, false
	}
	n := 1 << (ai - 24)
	if len(data)-off < n {
		return 0, 0, false
	}
	for _, b := range data[off : off+n] {
		arg = arg<<8 | uint64(b)
	}
	return arg, off + n, true
}

// stripSelfDescribed consumes leading self-described CBOR tags (55799),
// which the decoder ignores.
func (w *walker) stripSelfDescribed(depth int) (int, error) {
	for w.peek()>>5 == majorTag {
		if num, _, ok := argAt(w.data, w.off); !ok || num != 55799 {
			break
		}
		if _, _, _, err := w.head(); err != nil {
			return depth, err
		}
		var err error
		if depth, err = w.tagLevel(depth); err != nil {
			return depth, err
		}
	}
	return depth, nil
}

// shape is what decoding an item into an interface produced, as far as
// using it as a map key goes.
type shape uint8

const (
	shapeKey   shape = iota // a value that can be a map key
	shapeBytes              // []byte (or a tag of one): converted when used as a key
	shapeNoKey              // a slice, map or big.Int, which cannot be a key
	shapeFail               // the item failed to decode
)

// value charges decoding the next item into a value of type t, at depth.
// inner is set when the decoder re-enters for a tag's content: pointers
// are already allocated and the tags checked. The shape is that of a
// generic value for interfaces, else shapeKey or shapeFail.
func (w *walker) value(t *target, depth int, inner bool) (shape, error) {
	depth, err := w.stripSelfDescribed(depth)
	if err != nil {
		return shapeFail, err
	}
	if !inner {
		if t.nullable && isNull(w.peek()) {
			w.null()
			return shapeKey, nil
		}
		if t.kind == tkIface {
			return failShape(w.fail(t, depth))
		}
		if err := w.charge(t.ptrCost); err != nil {
			return shapeFail, err
		}
		if !w.tagsValid() {
			return failShape(w.fail(t, depth))
		}
	}
	switch t.kind {
	case tkAny:
		return w.generic(depth, false)
	case tkTag:
		return failShape(w.tag(t, depth))
	case tkTime:
		return failShape(w.time(t, depth))
	case tkSelf:
		start := w.off
		if err := w.skip(depth); err != nil {
			return shapeFail, err
		}
		return shapeKey, w.charge(selfCost(w.off - start))
	}
	return failShape(w.fill(t, depth))
}

func failShape(failed bool, err error) (shape, error) {
	if failed {
		return shapeFail, err
	}
	return shapeKey, err
}

// selfCost is charged for n bytes handed to a type's own decoding method.
func selfCost(n int) int64 {
	return addCost(costSelfBase, mulCost(costSelfPerByte, int64(n)))
}

// fill charges decoding the next item into a plain (not special) type and
// reports whether it fails.
func (w *walker) fill(t *target, depth int) (bool, error) {
	major, ai, arg, err := w.head()
	if err != nil {
		return true, err
	}
	switch major {
	case majorUint:
		return w.fillUint(t, arg)
	case majorNeg:
		return w.fillNeg(t, arg)
	case majorBytes:
		if _, err := w.str(arg); err != nil {
			return true, err
		}
		return w.fillBytes(t, arg)
	case majorText:
		if _, err := w.str(arg); err != nil {
			return true, err
		}
		if t.kind == tkString {
			return false, w.charge(heapCost(int64(arg)))
		}
		return true, w.charge(t.errCost)
	case majorSimple:
		switch ai {
		case 25, 26, 27:
			if t.kind == tkFloat && !(ai == 27 && t.bits == 32 && overflows32(math.Float64frombits(arg))) {
				return false, nil
			}
			return true, w.charge(t.errCost)
		case 20, 21:
			if t.kind == tkBool {
				return false, nil
			}
			return true, w.charge(t.errCost)
		case 22, 23:
			return false, nil // null leaves the value alone
		}
		return w.fillUint(t, arg)
	case majorTag:
		depth, err := w.tagLevel(depth)
		if err != nil {
			return true, err
		}
		if arg == 2 || arg == 3 {
			return w.bignum(t)
		}
		// Any other tag is ignored: its content fills the same value.
		s, err := w.value(t, depth, true)
		return s == shapeFail, err
	}
	depth++
	if err := w.enter(depth, major, arg); err != nil {
		return true, err
	}
	if major == majorArray {
		return w.array(t, arg, depth)
	}
	return w.mapItem(t, arg, depth)
}

// overflows32 reports whether f is finite and beyond the float32 range.
func overflows32(f float64) bool {
	return math.Abs(f) > math.MaxFloat32 && !math.IsInf(f, 0)
}

func (w *walker) fillUint(t *target, v uint64) (bool, error) {
	switch {
	case t.kind == tkInt && v < 1<<(t.bits-1),
		t.kind == tkUint && (t.bits == 64 || v < 1<<t.bits),
		t.kind == tkFloat:
		return false, nil
	case t.bigInt:
		return false, w.charge(costBigInt)
	}
	return true, w.charge(t.errCost)
}

// fillNeg fills the integer -1-arg.
func (w *walker) fillNeg(t *target, arg uint64) (bool, error) {
	switch {
	case arg > math.MaxInt64:
		// Beyond int64: the decoder builds a big.Int first.
		if err := w.charge(costBigInt); err != nil {
			return true, err
		}
		return !t.bigInt, nil
	case t.kind == tkInt && arg < 1<<(t.bits-1), t.kind == tkFloat:
		return false, nil
	case t.bigInt:
		return false, w.charge(costBigInt)
	}
	return true, w.charge(t.errCost)
}

// fillBytes fills a byte string of n bytes.
func (w *walker) fillBytes(t *target, n uint64) (bool, error) {
	switch {
	case t.binary:
		return false, w.charge(selfCost(int(n)))
	case t.kind == tkSlice && t.byteElems:
		return false, w.charge(heapCost(int64(n)))
	case t.kind == tkArray && t.byteElems:
		return false, nil
	}
	return true, w.charge(t.errCost)
}

// bignum charges a bignum (tag 2 or 3, whose head was read): the decoder
// turns its content into a big.Int before it looks at the target.
func (w *walker) bignum(t *target) (bool, error) {
	major, _, n, err := w.head()
	if err != nil {
		return true, err
	}
	if major != majorBytes {
		return true, fmt.Errorf("%w: bignum content is a CBOR %s", ErrMalformed, majorNames[major])
	}
	if _, err := w.str(n); err != nil {
		return true, err
	}
	if err := w.charge(addCost(costBigInt, mulCost(costPerBignumByte, int64(n)))); err != nil {
		return true, err
	}
	switch {
	case t.bigInt:
		return false, nil
	case t.kind == tkSlice || t.kind == tkArray:
		return w.fillBytes(t, n)
	}
	// The value may or may not fit the integer type.
	return true, w.charge(t.errCost)
}

// array charges the n elements of an array (whose head was read).
func (w *walker) array(t *target, n uint64, depth int) (bool, error) {
	failed := false
	switch t.kind {
	case tkSlice:
		if err := w.charge(heapCost(mulCost(int64(n), t.elemSize))); err != nil {
			return true, err
		}
		for ; n > 0; n-- {
			s, err := w.value(t.elem, depth, false)
			if err != nil {
				return true, err
			}
			failed = failed || s == shapeFail
		}
		return failed, nil
	case tkArray:
		// Elements beyond the array's length are skipped.
		fill := min(n, uint64(t.arrayLen))
		for range fill {
			s, err := w.value(t.elem, depth, false)
			if err != nil {
				return true, err
			}
			failed = failed || s == shapeFail
		}
		return failed, w.skipN(n-fill, depth)
	case tkStruct:
		st := t.st
		if st.invalid || !st.toArray || n != uint64(len(st.fields)) {
			return w.failN(t, n, depth)
		}
		for _, f := range st.fields {
			if err := w.field(f, depth); err != nil {
				return true, err
			}
		}
		return false, nil
	}
	return w.failN(t, n, depth)
}

// field charges decoding the next item into struct field f.
func (w *walker) field(f fieldTarget, depth int) error {
	if err := w.charge(f.embedCost); err != nil {
		return err
	}
	s, err := w.value(f.t, depth, false)
	if err != nil || s != shapeFail {
		return err
	}
	return w.charge(f.errCost)
}

// mapItem charges the n pairs of a map (whose head was read).
func (w *walker) mapItem(t *target, n uint64, depth int) (bool, error) {
	switch t.kind {
	case tkMap:
		return w.goMap(t, n, depth)
	case tkStruct:
		if t.st.invalid || t.st.toArray {
			return w.failN(t, 2*n, depth)
		}
		return w.structMap(t.st, n, depth)
	}
	return w.failN(t, 2*n, depth)
}

func (w *walker) goMap(t *target, n uint64, depth int) (bool, error) {
	if err := w.charge(addCost(t.mapTemps, mapCost(int64(n), t.keySize, t.elemSize, false))); err != nil {
		return true, err
	}
	failed := false
	for ; n > 0; n-- {
		ks, err := w.value(t.key, depth, false)
		if err != nil {
			return true, err
		}
		if t.keyCheck && ks != shapeFail {
			if t.key.kind != tkAny {
				// The key's dynamic parts may or may not be hashable.
				if err := w.charge(t.key.errCost); err != nil {
					return true, err
				}
			} else {
				switch ks {
				case shapeBytes:
					err = w.charge(w.conv)
				case shapeNoKey:
					ks = shapeFail
					err = w.charge(t.key.errCost)
				}
				if err != nil {
					return true, err
				}
			}
		}
		if ks == shapeFail {
			failed = true
			if err := w.skip(depth); err != nil {
				return true, err
			}
			continue
		}
		vs, err := w.value(t.elem, depth, false)
		if err != nil {
			return true, err
		}
		failed = failed || vs == shapeFail
	}
	return failed, nil
}

func (w *walker) structMap(st *structTarget, n uint64, depth int) (bool, error) {
	if err := w.charge(st.seenCost); err != nil {
		return true, err
	}
	failed := false
	for ; n > 0; n-- {
		major, _, arg, err := w.head()
		if err != nil {
			return true, err
		}
		i, found := -1, false
		switch major {
		case majorText:
			key, err := w.str(arg)
			if err != nil {
				return true, err
			}
			if i, found = st.byName[string(key)]; !found {
				// The decoder boxes the unknown key.
				if err := w.charge(heapCost(int64(len(key))) + costBox); err != nil {
					return true, err
				}
			}
		case majorUint, majorNeg:
			if arg > math.MaxInt64 {
				failed = true
				if err := w.charge(costError); err != nil {
					return true, err
				}
				break
			}
			k := int64(arg)
			if major == majorNeg {
				k = -1 - k
			}
			if i, found = st.byInt[k]; !found {
				if err := w.charge(costBox); err != nil {
					return true, err
				}
			}
		default:
			// Keys of other types match no field; the decoder reports it.
			failed = true
			if err := w.skipRest(major, arg, depth); err != nil {
				return true, err
			}
			if err := w.charge(costError); err != nil {
				return true, err
			}
		}
		if found {
			if err := w.field(st.fields[i], depth); err != nil {
				return true, err
			}
			continue
		}
		if err := w.skip(depth); err != nil {
			return true, err
		}
	}
	return failed, nil
}

// tag charges decoding the next item into a cbor.Tag.
func (w *walker) tag(t *target, depth int) (bool, error) {
	if isNull(w.peek()) {
		w.null()
		return false, nil
	}
	if w.peek()>>5 != majorTag {
		return w.fail(t, depth)
	}
	if _, _, _, err := w.head(); err != nil {
		return true, err
	}
	depth, err := w.tagLevel(depth)
	if err != nil {
		return true, err
	}
	s, err := w.generic(depth, false)
	if err != nil || s == shapeFail {
		return true, err
	}
	return false, w.charge(costBoxWide)
}

// time charges decoding the next item into a time.Time: enclosing tags
// are ignored, text is parsed as RFC 3339, numbers are Unix seconds.
func (w *walker) time(t *target, depth int) (bool, error) {
	if isNull(w.peek()) {
		w.null()
		return false, nil
	}
	for w.peek()>>5 == majorTag {
		if _, _, _, err := w.head(); err != nil {
			return true, err
		}
		var err error
		if depth, err = w.tagLevel(depth); err != nil {
			return true, err
		}
		if isNull(w.peek()) {
			w.null()
			return false, nil
		}
	}
	major, ai, arg, err := w.head()
	if err != nil {
		return true, err
	}
	switch major {
	case majorText:
		text, err := w.str(arg)
		if err != nil {
			return true, err
		}
		return w.timeText(text)
	case majorUint, majorNeg:
		if arg > math.MaxInt64 {
			return true, w.charge(t.errCost)
		}
		return false, nil
	case majorSimple:
		if ai < 25 || ai > 27 {
			return true, w.charge(t.errCost)
		}
		f := math.Float64frombits(arg)
		switch ai {
		case 25:
			f = float64(halfToFloat32(uint16(arg)))
		case 26:
			f = float64(math.Float32frombits(uint32(arg)))
		}
		if s := math.Trunc(f); s > math.MaxInt64 || s < math.MinInt64 {
			return true, w.charge(t.errCost)
		}
		return false, nil
	}
	return true, errOr(w.skipRest(major, arg, depth), w.charge(t.errCost))
}

// errOr returns the first non-nil error.
func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// halfToFloat32 converts IEEE 754 binary16 bits. Only the magnitude
// matters here (time.Time range checks), so NaN payloads are not kept.
func halfToFloat32(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * float32(math.Ldexp(frac, -24))
	case 0x1f:
		if frac != 0 {
			return float32(math.NaN())
		}
		return sign * float32(math.Inf(1))
	}
	return sign * float32(math.Ldexp(1024+frac, exp-25))
}

// timeText charges a time string. The decoder parses it with time.Parse;
// when that fails, the errors quote the text several times. The walk
// parses short text itself to tell which case applies, and charges longer
// text as failing (the encoder never writes more than 35 bytes).
func (w *walker) timeText(text []byte) (bool, error) {
	if len(text) <= maxTimeText {
		if tm, err := time.Parse(time.RFC3339, unsafe.String(unsafe.SliceData(text), len(text))); err == nil {
			c := heapCost(int64(len(text)))
			if _, offset := tm.Zone(); offset != 0 {
				c += costTime
			}
			return false, w.charge(c)
		}
	}
	return true, w.charge(addCost(costError, mulCost(costPerTimeByte, int64(len(text)))))
}

// generic charges decoding the next item into an empty interface, which
// receives CBOR's generic shapes (uint64, int64, []byte, string, []any,
// map[any]any, float64, bool, nil, time.Time, big.Int, cbor.Tag). strip
// is set where the decoder ignores self-described CBOR tags. conv is what
// the decoder allocates when a []byte result is made a map key.
func (w *walker) generic(depth int, strip bool) (shape, error) {
	s, conv, err := w.genericConv(depth, strip)
	w.conv = conv
	return s, err
}

func (w *walker) genericConv(depth int, strip bool) (s shape, conv int64, err error) {
	if strip {
		if depth, err = w.stripSelfDescribed(depth); err != nil {
			return shapeFail, 0, err
		}
	}
	if !w.tagsValid() {
		if err := w.skip(depth); err != nil {
			return shapeFail, 0, err
		}
		return shapeFail, 0, w.charge(costError)
	}
	major, ai, arg, err := w.head()
	if err != nil {
		return shapeFail, 0, err
	}
	switch major {
	case majorUint:
		if arg >= 256 { // smaller values are boxed without allocating
			return shapeKey, 0, w.charge(costBox)
		}
		return shapeKey, 0, nil
	case majorNeg:
		if arg > math.MaxInt64 {
			return shapeNoKey, 0, w.charge(costBigInt)
		}
		return shapeKey, 0, w.charge(costBox)
	case majorBytes:
		if _, err := w.str(arg); err != nil {
			return shapeFail, 0, err
		}
		return shapeBytes, heapCost(int64(arg)) + costBox, w.charge(heapCost(int64(arg)) + costBoxWide)
	case majorText:
		if _, err := w.str(arg); err != nil {
			return shapeFail, 0, err
		}
		return shapeKey, 0, w.charge(heapCost(int64(arg)) + costBox)
	case majorSimple:
		switch ai {
		case 20, 21, 22, 23:
			return shapeKey, 0, nil
		}
		return shapeKey, 0, w.charge(costBox)
	case majorTag:
		depth, err := w.tagLevel(depth)
		if err != nil {
			return shapeFail, 0, err
		}
		switch arg {
		case 0, 1:
			failed, err := w.time(&timeTarget, depth)
			if err != nil || failed {
				return shapeFail, 0, err
			}
			return shapeKey, 0, w.charge(costBoxWide)
		case 2, 3:
			failed, err := w.bignum(&bigIntTarget)
			if err != nil || failed {
				return shapeFail, 0, err
			}
			return shapeNoKey, 0, w.charge(costBoxWide)
		}
		// Other tags become a cbor.Tag holding their content.
		s, conv, err := w.genericConv(depth, false)
		if err != nil || s == shapeFail {
			return shapeFail, 0, err
		}
		return s, addCost(conv, costBoxWide), w.charge(costBoxWide)
	}
	depth++
	if err := w.enter(depth, major, arg); err != nil {
		return shapeFail, 0, err
	}
	if major == majorArray {
		if err := w.charge(heapCost(mulCost(int64(arg), 16)) + costBoxWide); err != nil {
			return shapeFail, 0, err
		}
		for ; arg > 0; arg-- {
			if _, _, err := w.genericConv(depth, true); err != nil {
				return shapeFail, 0, err
			}
		}
		return shapeNoKey, 0, nil
	}
	// A map[any]any made without a size hint grows as entries arrive.
	if err := w.charge(mapCost(int64(arg), 16, 16, true)); err != nil {
		return shapeFail, 0, err
	}
	for ; arg > 0; arg-- {
		ks, conv, err := w.genericConv(depth, true)
		if err != nil {
			return shapeFail, 0, err
		}
		switch ks {
		case shapeBytes:
			err = w.charge(conv)
		case shapeNoKey:
			ks = shapeFail
			err = w.charge(costError)
		}
		if err != nil {
			return shapeFail, 0, err
		}
		if ks == shapeFail {
			if err := w.skip(depth); err != nil {
				return shapeFail, 0, err
			}
			continue
		}
		if _, _, err := w.genericConv(depth, true); err != nil {
			return shapeFail, 0, err
		}
	}
	return shapeNoKey, 0, nil
}

// Targets the generic walk decodes tags 0 to 3 into.
var (
	timeTarget   = target{kind: tkTime, errCost: costError}
	bigIntTarget = target{kind: tkStruct, bigInt: true, errCost: costError, st: &structTarget{}}
)
