//go:build !unix

package cli

import (
	"context"
	"errors"
	"time"
)

// firstTouch needs anonymous memory mappings, which this platform lacks.
func firstTouch(context.Context, time.Duration) (float64, error) {
	return 0, errors.New("memory_first_touch_gigabytes: not measured on this platform")
}
