package es

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// ErrBadPolicyFile reports input that is not a policy file WritePolicy
// could have written.
var ErrBadPolicyFile = errors.New("es: bad policy file")

// Policy is a trained linear policy and the environment it was trained on.
type Policy struct {
	Env        string    // name of the environment, as the program that trained it calls it
	ObsSize    int       // observation size of the environment
	NumActions int       // number of actions of the environment
	Params     []float32 // NumParams(ObsSize, NumActions) values, laid out as Act reads them
}

// The policy file format, every integer a little-endian uint32:
//
//	offset    size   field
//	0         8      magic "ESPOLICY"
//	8         4      format version, 1
//	12        4      ObsSize
//	16        4      NumActions
//	20        4      n, length of the environment name (at most 64)
//	24        n      environment name, UTF-8
//	24+n      4k     the k = NumActions*(ObsSize+1) parameters, little-endian IEEE 754 float32
//	24+n+4k   4      CRC-32 (IEEE) of all the bytes before it
//
// The file is exactly that long: no padding, nothing after the checksum. A
// policy has at most 2^22 parameters.
const (
	policyMagic   = "ESPOLICY"
	policyVersion = 1
	maxEnvName    = 64
	maxParams     = 1 << 22 // 16 MiB of parameters
)

// WritePolicy writes p to w in the policy file format.
func WritePolicy(w io.Writer, p Policy) error {
	if err := p.check(); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(policyMagic)
	for _, v := range []int{policyVersion, p.ObsSize, p.NumActions, len(p.Env)} {
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
	}
	b.WriteString(p.Env)
	for _, v := range p.Params {
		b.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)))
	}
	b.Write(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(b.Bytes())))
	_, err := w.Write(b.Bytes())
	return err
}

// ReadPolicy reads a policy written by WritePolicy; r must hold the file
// and nothing after it. Input that is truncated, corrupted, oversized or not
// a policy file at all yields an error wrapping ErrBadPolicyFile. ReadPolicy
// reads the header first and allocates only what a valid header announces.
func ReadPolicy(r io.Reader) (Policy, error) {
	head := make([]byte, 24)
	if _, err := io.ReadFull(r, head); err != nil {
		return Policy{}, fmt.Errorf("%w: header: %w", ErrBadPolicyFile, err)
	}
	if string(head[:8]) != policyMagic {
		return Policy{}, fmt.Errorf("%w: not a policy file", ErrBadPolicyFile)
	}
	u32 := func(off int) int { return int(binary.LittleEndian.Uint32(head[off:])) }
	if v := u32(8); v != policyVersion {
		return Policy{}, fmt.Errorf("%w: format version %d, want %d", ErrBadPolicyFile, v, policyVersion)
	}
	p := Policy{ObsSize: u32(12), NumActions: u32(16)}
	n := u32(20)
	if n > maxEnvName || !validShape(p.ObsSize, p.NumActions) {
		return Policy{}, fmt.Errorf("%w: name of %d bytes, %d observations, %d actions", ErrBadPolicyFile, n, p.ObsSize, p.NumActions)
	}
	k := NumParams(p.ObsSize, p.NumActions)
	rest := make([]byte, n+4*k+4)
	if _, err := io.ReadFull(r, rest); err != nil {
		return Policy{}, fmt.Errorf("%w: %d parameters: %w", ErrBadPolicyFile, k, err)
	}
	if m, err := r.Read(make([]byte, 1)); m > 0 || err != io.EOF {
		return Policy{}, fmt.Errorf("%w: data after the checksum", ErrBadPolicyFile)
	}
	crc := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, rest[:len(rest)-4])
	if crc != binary.LittleEndian.Uint32(rest[len(rest)-4:]) {
		return Policy{}, fmt.Errorf("%w: checksum mismatch", ErrBadPolicyFile)
	}
	p.Env = string(rest[:n])
	p.Params = make([]float32, k)
	for i := range p.Params {
		p.Params[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[n+4*i:]))
	}
	return p, nil
}

func (p Policy) check() error {
	switch {
	case len(p.Env) > maxEnvName:
		return fmt.Errorf("%w: environment name of %d bytes, at most %d", ErrInvalidArgument, len(p.Env), maxEnvName)
	case !validShape(p.ObsSize, p.NumActions):
		return fmt.Errorf("%w: %d observations and %d actions", ErrInvalidArgument, p.ObsSize, p.NumActions)
	case len(p.Params) != NumParams(p.ObsSize, p.NumActions):
		return fmt.Errorf("%w: %d parameters, the policy has %d", ErrInvalidArgument, len(p.Params), NumParams(p.ObsSize, p.NumActions))
	}
	return nil
}

// validShape reports whether a policy for obsSize observations and
// numActions actions fits the format.
func validShape(obsSize, numActions int) bool {
	return obsSize >= 1 && numActions >= 1 && obsSize < maxParams && numActions <= maxParams &&
		NumParams(obsSize, numActions) <= maxParams
}
