//go:build !race

package proxy

// allocSlack widens the allocation budgets under the race detector only.
const allocSlack = 1.0
