package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goray-dev/goray/examples/rl/acrobot"
	"github.com/goray-dev/goray/examples/rl/cartpole"
	"github.com/goray-dev/goray/examples/rl/es"
)

// environment is a simulator the command can train on. Environment actors
// are told its name and build their environments from the registry in
// their own process, so the factory never travels.
type environment struct {
	Name  string        // the -env value
	Title string        // the task it reproduces
	New   func() es.Env // makes one environment
	// Solve is Gym's reward threshold for the task: the mean return over
	// 100 consecutive episodes at which it counts as solved.
	Solve float32
}

// Dim returns the number of parameters of a linear policy for e.
func (e environment) Dim() int { return es.PolicyDim(e.New()) }

// environments lists every environment the command knows, the default
// first. Add a line here to train on another es.Env.
var environments = []environment{
	{Name: "cartpole", Title: "CartPole-v1", New: func() es.Env { return cartpole.New() }, Solve: 475},
	{Name: "acrobot", Title: "Acrobot-v1", New: func() es.Env { return acrobot.New() }, Solve: -100},
}

// lookupEnv returns the environment called name.
func lookupEnv(name string) (environment, error) {
	i := slices.IndexFunc(environments, func(e environment) bool { return e.Name == name })
	if i < 0 {
		return environment{}, fmt.Errorf("%w: unknown environment %q (want %s)", ErrInvalidConfig, name, envNames())
	}
	return environments[i], nil
}

// envNames returns the environments' names, comma-separated.
func envNames() string {
	var names []string
	for _, e := range environments {
		names = append(names, e.Name)
	}
	return strings.Join(names, ", ")
}
