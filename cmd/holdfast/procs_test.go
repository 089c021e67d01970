package main

import (
	"os"
	"runtime"
	"testing"
)

func TestSetProcsAddsHeadroomUnlessTheEnvironmentSetsIt(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)

	t.Setenv("GOMAXPROCS", "3")
	runtime.GOMAXPROCS(3)
	if got := setProcs(); got != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("with GOMAXPROCS=3 set: %d (runtime %d), want 3", got, runtime.GOMAXPROCS(0))
	}

	os.Unsetenv("GOMAXPROCS") // t.Setenv restores it
	runtime.GOMAXPROCS(2)
	if got := setProcs(); got != 2+procsHeadroom || runtime.GOMAXPROCS(0) != 2+procsHeadroom {
		t.Fatalf("unset, from 2: %d (runtime %d), want %d", got, runtime.GOMAXPROCS(0), 2+procsHeadroom)
	}
}
