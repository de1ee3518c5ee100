package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// cpuSeconds is the user plus system CPU time the processes have used so
// far; processes /proc cannot tell about count as 0.
func cpuSeconds(pids []int) float64 {
	total := 0.0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: count fields after
		// its closing parenthesis, where field 3 (state) is first.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64) // field 14
		stime, _ := strconv.ParseFloat(f[12], 64) // field 15
		total += (utime + stime) / clockTicks
	}
	return total
}

var vmHWM = regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`)

// peakRSS is a process's peak resident set (VmHWM) in MiB, -1 when
// /proc cannot tell.
func peakRSS(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	m := vmHWM.FindSubmatch(status)
	if m == nil {
		return -1
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb >> 10
}
