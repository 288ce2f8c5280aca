package placement

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func mustRes(t *testing.T, m map[string]float64) Resources {
	t.Helper()
	r, err := FromFloats(m)
	if err != nil {
		t.Fatalf("FromFloats(%v): %v", m, err)
	}
	return r
}

// Sums over many large nodes saturate instead of wrapping negative.
func TestAddSaturates(t *testing.T) {
	big := Resources{Memory: Quantity(MaxValue) * Unit}
	sum := Resources{}
	for range 100 {
		sum = sum.Add(big)
	}
	if sum[Memory] != maxQuantity {
		t.Fatalf("sum of 100 nodes of %v = %v, want the saturated maximum", big[Memory], sum[Memory])
	}
	if !big.Fits(sum) {
		t.Fatal("a saturated total no longer fits a single node's request")
	}
}

func TestQuantityOf(t *testing.T) {
	tests := []struct {
		name    string
		in      float64
		want    Quantity
		wantErr string // substring of the error; "" means success
	}{
		{"zero", 0, 0, ""},
		{"one", 1, Unit, ""},
		{"fraction", 0.25, 2500, ""},
		{"resolution", 0.0001, 1, ""},
		{"rounds to nearest", 0.33335, 3334, ""},
		{"max", MaxValue, Quantity(MaxValue) * Unit, ""},
		{"NaN", math.NaN(), 0, "NaN"},
		{"+Inf", math.Inf(1), 0, "+Inf"},
		{"-Inf", math.Inf(-1), 0, "-Inf"},
		{"negative", -1, 0, "-1"},
		{"negative zero-ish", -0.00001, 0, "negative"},
		{"2 TB of memory", 2e12, 2e12 * Unit, ""},
		{"too large", 2e14, 0, "2e+14"},
		{"below resolution", 0.00001, 0, "1e-05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QuantityOf(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidResource) {
					t.Fatalf("QuantityOf(%v) error = %v, want ErrInvalidResource", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not name the value %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("QuantityOf(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if tt.in != 0.33335 && got.Float() != tt.in {
				t.Fatalf("Float() = %v, want %v", got.Float(), tt.in)
			}
		})
	}
}

func TestQuantityString(t *testing.T) {
	tests := []struct {
		q    Quantity
		want string
	}{
		{0, "0"}, {Unit, "1"}, {15000, "1.5"}, {1, "0.0001"}, {1010, "0.101"},
		{-2500, "-0.25"}, {123 * Unit, "123"},
	}
	for _, tt := range tests {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("Quantity(%d).String() = %q, want %q", int64(tt.q), got, tt.want)
		}
	}
}

func TestFromFloats(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]float64
		want    Resources
		wantErr error
	}{
		{"basic", map[string]float64{CPU: 1.5, GPU: 1, Memory: 1 << 30},
			Resources{CPU: 15000, GPU: Unit, Memory: (1 << 30) * Unit}, nil},
		{"custom and zero dropped", map[string]float64{"accel:tpu": 4, "disk": 0},
			Resources{"accel:tpu": 4 * Unit}, nil},
		{"nil", nil, Resources{}, nil},
		{"empty name", map[string]float64{"": 1}, nil, ErrInvalidResource},
		{"space in name", map[string]float64{"my gpu": 1}, nil, ErrInvalidResource},
		{"control char", map[string]float64{"a\x00": 1}, nil, ErrInvalidResource},
		{"NaN", map[string]float64{CPU: math.NaN()}, nil, ErrInvalidResource},
		{"negative", map[string]float64{CPU: -2}, nil, ErrInvalidResource},
		{"inf", map[string]float64{GPU: math.Inf(1)}, nil, ErrInvalidResource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromFloats(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			back := got.Floats()
			for k, v := range tt.in {
				if v != 0 && back[k] != v {
					t.Fatalf("Floats()[%s] = %v, want %v", k, back[k], v)
				}
			}
		})
	}
}

func TestValidateRequest(t *testing.T) {
	tests := []struct {
		name string
		r    Resources
		ok   bool
	}{
		{"empty", Resources{}, true},
		{"fractional gpu", Resources{GPU: 2500}, true},
		{"one gpu", Resources{GPU: Unit}, true},
		{"whole gpus", Resources{GPU: 4 * Unit}, true},
		{"gpu 1.5", Resources{GPU: 15000}, false},
		{"gpu 2.0001", Resources{GPU: 2*Unit + 1}, false},
		{"fractional cpu above one", Resources{CPU: 15000}, true},
		{"negative", Resources{CPU: -1}, false},
		{"bad name", Resources{"a b": Unit}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRequest(tt.r)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateRequest(%v) = %v, want ok=%v", tt.r, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidResource) {
				t.Fatalf("error %v does not wrap ErrInvalidResource", err)
			}
		})
	}
}

func TestArithmetic(t *testing.T) {
	tenth := mustRes(t, map[string]float64{CPU: 0.1})
	fifth := mustRes(t, map[string]float64{CPU: 0.2})
	tests := []struct {
		name string
		got  Resources
		want Resources
	}{
		{"0.1+0.2 is exactly 0.3", tenth.Add(fifth), Resources{CPU: 3000}},
		{"add disjoint", Resources{CPU: Unit}.Add(Resources{GPU: Unit}), Resources{CPU: Unit, GPU: Unit}},
		{"add nil", Resources(nil).Add(Resources{CPU: 1}), Resources{CPU: 1}},
		{"ten tenths", func() Resources {
			var r Resources
			for range 10 {
				r = r.Add(tenth)
			}
			return r
		}(), Resources{CPU: Unit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.got.Equal(tt.want) {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if got := tenth.Add(fifth).Floats()[CPU]; got != 0.3 {
		t.Fatalf("0.1+0.2 as float = %v, want 0.3", got)
	}
}

func TestSub(t *testing.T) {
	tests := []struct {
		name    string
		r, o    Resources
		want    Resources
		wantErr bool
	}{
		{"partial", Resources{CPU: 3000}, Resources{CPU: 1000}, Resources{CPU: 2000}, false},
		{"to zero drops entry", Resources{CPU: Unit, GPU: Unit}, Resources{GPU: Unit}, Resources{CPU: Unit}, false},
		{"negative result", Resources{CPU: 1000}, Resources{CPU: 1001}, nil, true},
		{"missing kind", Resources{CPU: Unit}, Resources{GPU: 1}, nil, true},
		{"nothing", Resources{CPU: Unit}, nil, Resources{CPU: Unit}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.r.Clone()
			got, err := tt.r.Sub(tt.o)
			if !tt.r.Equal(before) {
				t.Fatalf("Sub mutated its receiver: %v -> %v", before, tt.r)
			}
			if tt.wantErr {
				if !errors.Is(err, ErrInsufficient) {
					t.Fatalf("err = %v, want ErrInsufficient", err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			if _, ok := got[GPU]; ok && got[GPU] == 0 {
				t.Fatalf("zero entry kept: %v", got)
			}
		})
	}
}

func TestFitsAndString(t *testing.T) {
	tests := []struct {
		name  string
		r, av Resources
		fits  bool
		str   string
	}{
		{"exact", Resources{CPU: 15000, GPU: Unit}, Resources{CPU: 15000, GPU: Unit}, true, "CPU=1.5 GPU=1"},
		{"short", Resources{CPU: 15001}, Resources{CPU: 15000}, false, "CPU=1.5001"},
		{"missing kind", Resources{"tpu": 1}, Resources{CPU: Unit}, false, "tpu=0.0001"},
		{"zero request", Resources{}, nil, true, ""},
		{"zero entry ignored", Resources{GPU: 0, CPU: Unit}, Resources{CPU: Unit}, true, "CPU=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Fits(tt.av); got != tt.fits {
				t.Fatalf("Fits = %v, want %v", got, tt.fits)
			}
			if got := tt.r.String(); got != tt.str {
				t.Fatalf("String = %q, want %q", got, tt.str)
			}
			if got := tt.r.IsZero(); got != (tt.str == "") {
				t.Fatalf("IsZero = %v", got)
			}
		})
	}
}

func TestCloneIsIndependent(t *testing.T) {
	r := Resources{CPU: Unit}
	c := r.Clone()
	c[CPU] = 2 * Unit
	if r[CPU] != Unit {
		t.Fatalf("Clone shares storage: %v", r)
	}
	if Resources(nil).Clone() == nil {
		t.Fatal("Clone of nil is nil")
	}
}
