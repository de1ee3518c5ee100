package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profileDir, when set, receives KOP's profiles (-profile).
var profileDir string

// startCPUProfile, with -profile, takes KOP's CPU profile in one-minute
// pieces, cpu-<name>-1.pprof, -2, ..., until the function returned is
// called, which waits for the piece under way (`go tool pprof` merges
// the pieces given together).
func startCPUProfile(httpAddr, name string) func() {
	if profileDir == "" {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			saveProfile(httpAddr, "profile?seconds=60", fmt.Sprintf("cpu-%s-%d.pprof", name, i))
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	return func() { close(stop); <-done }
}

// saveProfile writes KOP's /debug/pprof/<what> to file in profileDir.
func saveProfile(httpAddr, what, file string) {
	if profileDir == "" {
		return
	}
	if err := os.MkdirAll(profileDir, 0o755); err != nil {
		log.Printf("profile: %v", err)
		return
	}
	c := http.Client{Timeout: 5 * time.Minute}
	resp, err := c.Get("http://" + httpAddr + "/debug/pprof/" + what)
	if err != nil {
		log.Printf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	path := filepath.Join(profileDir, file)
	f, err := os.Create(path)
	if err != nil {
		log.Printf("profile: %v", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		log.Printf("profile %s: %v", what, err)
		return
	}
	fmt.Printf("profile: %s (go tool pprof %s)\n", path, path)
}
