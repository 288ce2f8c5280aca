package es

// NumParams returns the number of parameters of the linear policy for
// observations of obsSize values and numActions actions: a numActions×obsSize
// weight matrix, row-major, followed by numActions biases.
func NumParams(obsSize, numActions int) int { return numActions * (obsSize + 1) }

// Act returns the action whose score bias[a] + Σ_j w[a][j]*obs[j] is highest,
// the lowest index on ties, for a linear policy laid out as NumParams
// describes. The number of actions is len(params)/(len(obs)+1); params must
// hold exactly NumParams(len(obs), numActions) values. Act allocates nothing.
func Act(params, obs []float32) int {
	if len(obs) == 4 && len(params) == 10 {
		return act4x2((*[10]float32)(params), (*[4]float32)(obs))
	}
	return actLinear(params, obs)
}

// actLinear is Act for any shape.
func actLinear(params, obs []float32) int {
	n := len(obs)
	k := len(params) / (n + 1)
	w, b := params[:k*n], params[k*n:k*n+k]
	best, bestScore := 0, float32(0)
	for a := range k {
		row := w[a*n : a*n+n]
		s := b[a]
		for j, x := range obs {
			s += float32(row[j] * x)
		}
		if a == 0 || s > bestScore {
			best, bestScore = a, s
		}
	}
	return best
}

// act4x2 is Act for CartPole's shape, unrolled. Its sums run in the same
// order as Act's loop, and the float32 conversions forbid fused
// multiply-adds in both, so the two agree bit for bit.
func act4x2(p *[10]float32, o *[4]float32) int {
	s0 := p[8] + float32(p[0]*o[0]) + float32(p[1]*o[1]) + float32(p[2]*o[2]) + float32(p[3]*o[3])
	s1 := p[9] + float32(p[4]*o[0]) + float32(p[5]*o[1]) + float32(p[6]*o[2]) + float32(p[7]*o[3])
	if s1 > s0 {
		return 1
	}
	return 0
}
