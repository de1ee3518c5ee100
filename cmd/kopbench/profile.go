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

// startCPUProfile, with -profile, takes KOP's CPU profile over the next d
// (or until the rows are done, whichever is later) into
// cpu-<name>.pprof; the function returned waits for it.
func startCPUProfile(httpAddr, name string, d time.Duration) func() {
	if profileDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		saveProfile(httpAddr, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), "cpu-"+name+".pprof")
	}()
	return func() { <-done }
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
