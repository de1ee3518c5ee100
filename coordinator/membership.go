package coordinator

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

func protocolsOf(ps []kmsg.JoinGroupRequestProtocol) []raftmeta.GroupProtocol {
	out := make([]raftmeta.GroupProtocol, len(ps))
	for i, p := range ps {
		out[i] = raftmeta.GroupProtocol{Name: p.Name, Metadata: p.Metadata}
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// JoinGroup handles a JoinGroup request. It blocks until the join phase of
// the rebalance completes, or ctx ends (the client's connection closed).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	wait, e := c.join(ctx, req, clientID, clientHost, resp)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	if wait == nil {
		return resp
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp
	}
}

// join validates the request, then joins the member under the group's
// lock. A static member replacing its old member id in a Stable group has
// the group stored first: that write is made after the lock is released
// and its result applied under the lock again (then).
func (c *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string, resp *kmsg.JoinGroupResponse) (chan *kmsg.JoinGroupResponse, *kerr.Error) {
	if req.Group == "" {
		return nil, kerr.InvalidGroupID
	}
	if e := c.check(); e != nil {
		return nil, e
	}
	st := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if st < c.cfg.MinSessionTimeout || st > c.cfg.MaxSessionTimeout {
		return nil, kerr.InvalidSessionTimeout
	}
	if req.Version == 0 {
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis
	}
	g, e := c.lockGroup(ctx, req.Group, req.MemberID == "", true)
	if e != nil {
		return nil, e
	}
	if g == nil {
		return nil, kerr.UnknownMemberID
	}
	ch, then, e := c.joinLocked(g, req, clientID, clientHost, resp)
	c.unlock(g)
	if then != nil {
		return nil, then()
	}
	return ch, e
}

// joinLocked joins a member to g (g.mu held). A non-nil then is to be
// called once the lock is released (see join).
func (c *Coordinator) joinLocked(g *group, req *kmsg.JoinGroupRequest, clientID, clientHost string, resp *kmsg.JoinGroupResponse) (chan *kmsg.JoinGroupResponse, func() *kerr.Error, *kerr.Error) {
	st := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if g.state == Dead {
		return nil, nil, kerr.CoordinatorNotAvailable
	}
	instance := str(req.InstanceID)
	newMember := req.MemberID == ""
	if _, pending := g.pending[req.MemberID]; pending {
		newMember = true
	}
	if newMember && len(g.members) >= c.cfg.MaxSize {
		if _, static := g.static[instance]; instance == "" || !static {
			return nil, nil, kerr.GroupMaxSizeReached
		}
	}
	if !g.supports(req.ProtocolType, req.Protocols) {
		return nil, nil, kerr.InconsistentGroupProtocol
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)

	if req.MemberID == "" {
		id := newMemberID(clientID)
		if instance != "" {
			return c.staticJoinLocked(g, req, id, instance, clientID, clientHost, ch, resp)
		}
		if req.Version >= 4 {
			// KIP-394: hand out the id; the member joins with it.
			g.pending[id] = c.after(g, st, func() {
				delete(g.pending, id)
				c.maybeCompleteJoinLocked(g)
			})
			resp.MemberID = id
			return nil, nil, kerr.MemberIDRequired
		}
		c.addMemberLocked(g, req, id, clientID, clientHost, ch)
		return ch, nil, nil
	}
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		c.addMemberLocked(g, req, req.MemberID, clientID, clientHost, ch)
		return ch, nil, nil
	}
	if instance != "" {
		if id, ok := g.static[instance]; ok && id != req.MemberID {
			return nil, nil, kerr.FencedInstanceID
		}
	}
	m := g.members[req.MemberID]
	if m == nil {
		return nil, nil, kerr.UnknownMemberID
	}
	switch g.state {
	case PreparingRebalance:
		c.updateMemberLocked(g, m, req, ch)
		return ch, nil, nil
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			// A retried JoinGroup: answer as the join phase did.
			c.fillJoin(g, m, resp, m.id == g.leader)
			return nil, nil, nil
		}
		c.updateMemberLocked(g, m, req, ch)
		return ch, nil, nil
	case Stable:
		if m.id == g.leader || !m.matches(req.Protocols) {
			c.updateMemberLocked(g, m, req, ch)
			return ch, nil, nil
		}
		c.fillJoin(g, m, resp, false)
		c.heartbeatLocked(g, m)
		return nil, nil, nil
	default: // Empty
		return nil, nil, kerr.UnknownMemberID
	}
}

func (c *Coordinator) addMemberLocked(g *group, req *kmsg.JoinGroupRequest, id, clientID, clientHost string, ch chan *kmsg.JoinGroupResponse) *member {
	m := &member{
		id: id, instanceID: str(req.InstanceID), clientID: clientID, clientHost: clientHost,
		protocolType: req.ProtocolType, protocols: protocolsOf(req.Protocols),
		rebalanceTimeout: req.RebalanceTimeoutMillis, sessionTimeout: req.SessionTimeoutMillis,
		join: ch, joinVersion: req.Version,
	}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[id] = m
	if m.instanceID != "" {
		g.static[m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	g.newMemberAdded = true
	c.heartbeatLocked(g, m)
	if g.state == PreparingRebalance {
		c.maybeCompleteJoinLocked(g)
	} else {
		c.prepareRebalanceLocked(g, "adding member "+id)
	}
	return m
}

func (c *Coordinator) updateMemberLocked(g *group, m *member, req *kmsg.JoinGroupRequest, ch chan *kmsg.JoinGroupResponse) {
	m.protocols = protocolsOf(req.Protocols)
	m.rebalanceTimeout, m.sessionTimeout = req.RebalanceTimeoutMillis, req.SessionTimeoutMillis
	if m.join != nil {
		// The member's previous JoinGroup is superseded.
		r := kmsg.NewPtrJoinGroupResponse()
		r.Version, r.ErrorCode, r.Generation, r.MemberID = m.joinVersion, kerr.RebalanceInProgress.Code, -1, m.id
		m.join <- r
	}
	m.join, m.joinVersion = ch, req.Version
	c.heartbeatLocked(g, m)
	if g.state != PreparingRebalance {
		c.prepareRebalanceLocked(g, "updating member "+m.id)
	}
	// Every member may have joined already (a lone member rejoining with
	// new metadata, as Kafka Streams does once it created its internal
	// topics): then the join phase ends now, not at the rebalance timeout.
	c.maybeCompleteJoinLocked(g)
}

// staticJoinLocked joins a static member with no member id (KIP-345): a
// known group.instance.id replaces the old member, keeping its assignment
// and, in a Stable group whose protocol still fits, without a rebalance.
//
// Replacing a member without a rebalance stores the group (the new member
// id) before answering: the replacement is made at once (the old member
// id is fenced from now on), the write after the lock is released, and
// the returned then applies the write's result under the lock again.
func (c *Coordinator) staticJoinLocked(g *group, req *kmsg.JoinGroupRequest, id, instance, clientID, clientHost string, ch chan *kmsg.JoinGroupResponse, resp *kmsg.JoinGroupResponse) (chan *kmsg.JoinGroupResponse, func() *kerr.Error, *kerr.Error) {
	oldID, known := g.static[instance]
	old := g.members[oldID]
	if !known || old == nil {
		c.addMemberLocked(g, req, id, clientID, clientHost, ch)
		return ch, nil, nil
	}
	// Replace the old member: its parked requests are fenced.
	c.answerParked(old, kerr.FencedInstanceID)
	if old.session != nil {
		old.session.Stop()
	}
	m := &member{
		id: id, instanceID: instance, clientID: clientID, clientHost: clientHost,
		protocolType: req.ProtocolType, protocols: protocolsOf(req.Protocols),
		rebalanceTimeout: req.RebalanceTimeoutMillis, sessionTimeout: req.SessionTimeoutMillis,
		assignment: old.assignment,
	}
	delete(g.members, oldID)
	g.members[id] = m
	g.static[instance] = id
	wasLeader := g.leader == oldID
	if wasLeader {
		g.leader = id
	}
	switch g.state {
	case Stable:
		if g.protocol != "" && m.metadataFor(g.protocol) != nil && (!wasLeader || req.Version >= 9) {
			w := c.queueWriteLocked(g, false)
			gen := g.generation
			return nil, func() *kerr.Error {
				g.mu.Lock()
				defer c.unlock(g)
				if g.state == Dead {
					return c.deadErr()
				}
				// Still this member of this instance (not removed,
				// nor replaced by a newer join of the instance)?
				replaced := g.members[id] == m && g.static[instance] == id
				if w.err != nil {
					if replaced && g.members[oldID] == nil {
						// Undo the replacement; the client retries.
						delete(g.members, id)
						g.members[oldID] = old
						g.static[instance] = oldID
						if g.leader == id {
							g.leader = oldID
						}
						c.heartbeatLocked(g, old)
					}
					return storeErr(w.err)
				}
				if !replaced || g.generation != gen {
					// A rebalance without it completed meanwhile,
					// or the instance joined again.
					return kerr.UnknownMemberID
				}
				// Still the generation it was stored with (the group
				// may be preparing a rebalance since: the member
				// learns it from its next heartbeat, as if it had
				// joined just before).
				c.heartbeatLocked(g, m)
				c.fillJoin(g, m, resp, wasLeader)
				resp.SkipAssignment = wasLeader
				c.log.Info("static member rejoined without rebalance", "group", g.id, "instance", instance, "member", id)
				return nil
			}, nil
		}
		m.join, m.joinVersion = ch, req.Version
		c.heartbeatLocked(g, m)
		c.prepareRebalanceLocked(g, "static member "+instance+" rejoined with new protocols")
		return ch, nil, nil
	case CompletingRebalance:
		m.join, m.joinVersion = ch, req.Version
		c.heartbeatLocked(g, m)
		c.prepareRebalanceLocked(g, "static member "+instance+" rejoined")
		return ch, nil, nil
	default: // PreparingRebalance
		m.join, m.joinVersion = ch, req.Version
		c.heartbeatLocked(g, m)
		c.maybeCompleteJoinLocked(g)
		return ch, nil, nil
	}
}

// validateMemberLocked checks a request's member against the group: fenced
// static member, unknown member, or stale generation.
func validateMember(g *group, memberID, instance string, generation int32) (*member, *kerr.Error) {
	if instance != "" {
		if id, ok := g.static[instance]; ok && id != memberID {
			return nil, kerr.FencedInstanceID
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration
	}
	return m, nil
}

// SyncGroup handles a SyncGroup request; in CompletingRebalance it blocks
// until the leader's assignment is stored.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	wait, e := c.sync(req, resp)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	if wait == nil {
		return resp
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp
	}
}

// sync handles a SyncGroup under the group's lock; the leader's
// assignment is stored after the lock is released, and the result applied
// under the lock again (syncStored). The write runs beside the wait for
// the answer: a leader removed meanwhile is answered at once.
func (c *Coordinator) sync(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) (chan *kmsg.SyncGroupResponse, *kerr.Error) {
	if req.Group == "" {
		return nil, kerr.InvalidGroupID
	}
	g, e := c.lockGroup(context.Background(), req.Group, false, false)
	if e != nil {
		return nil, e
	}
	if g == nil {
		return nil, kerr.UnknownMemberID
	}
	ch, w, e := c.syncLocked(g, req, resp)
	ws := g.release()
	if w == nil {
		c.writeAll(ws)
		return ch, e
	}
	go func() {
		c.writeAll(ws) // makes the write w
		c.syncStored(g, w)
	}()
	return ch, e
}

// syncLocked is SyncGroup under g's lock; w is the write of the leader's
// assignment, which sync makes once the lock is released.
func (c *Coordinator) syncLocked(g *group, req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) (ch chan *kmsg.SyncGroupResponse, w *groupWrite, e *kerr.Error) {
	if g.state == Dead {
		return nil, nil, kerr.UnknownMemberID
	}
	m, e := validateMember(g, req.MemberID, str(req.InstanceID), req.Generation)
	if e != nil {
		return nil, nil, e
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType || req.Protocol != nil && *req.Protocol != g.protocol {
		return nil, nil, kerr.InconsistentGroupProtocol
	}
	pt, p := g.protocolType, g.protocol
	switch g.state {
	case PreparingRebalance:
		return nil, nil, kerr.RebalanceInProgress
	case Stable:
		c.heartbeatLocked(g, m)
		resp.ProtocolType, resp.Protocol = &pt, &p
		resp.MemberAssignment = m.assignment
		return nil, nil, nil
	case CompletingRebalance:
	default:
		return nil, nil, kerr.UnknownMemberID
	}
	ch = make(chan *kmsg.SyncGroupResponse, 1)
	if m.sync != nil {
		r := kmsg.NewPtrSyncGroupResponse()
		r.Version, r.ErrorCode = m.syncVersion, kerr.RebalanceInProgress.Code
		m.sync <- r
	}
	m.sync, m.syncVersion = ch, req.Version
	c.heartbeatLocked(g, m)
	if m.id != g.leader {
		return ch, nil, nil
	}
	if g.storing != nil && g.storing.rec.Generation == g.generation {
		// The leader's earlier SyncGroup of this generation is storing
		// the assignment: this one waits for it like the followers.
		return ch, nil, nil
	}
	assign := map[string][]byte{}
	for _, a := range req.GroupAssignment {
		assign[a.MemberID] = a.MemberAssignment
	}
	for _, om := range g.members {
		om.assignment = assign[om.id]
	}
	// The request's context has no deadline (SyncGroup waits for the
	// leader): the Raft write, made after the lock is released, gets its
	// own.
	w = c.queueWriteLocked(g, false)
	g.storing = w
	return ch, w, nil
}

// syncStored applies the result of storing the leader's assignment, if the
// group is still completing the rebalance of the generation stored. If it
// moved on meanwhile (a member joined, left or timed out, leadership was
// lost), whatever moved it has answered the parked SyncGroups
// (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, NOT_COORDINATOR), and the
// write's result is not applied, as in Kafka.
func (c *Coordinator) syncStored(g *group, w *groupWrite) {
	g.mu.Lock()
	defer c.unlock(g)
	if g.storing == w {
		g.storing = nil
	}
	if g.state != CompletingRebalance || g.generation != w.rec.Generation {
		return
	}
	if w.err != nil {
		se := storeErr(w.err)
		for _, om := range g.members {
			om.assignment = nil
			if om.sync != nil {
				r := kmsg.NewPtrSyncGroupResponse()
				r.Version, r.ErrorCode = om.syncVersion, se.Code
				om.sync <- r
				om.sync = nil
			}
		}
		c.prepareRebalanceLocked(g, "storing the assignment failed")
		return
	}
	g.stopRebalanceTimer()
	g.state = Stable
	c.log.Info("consumer group stable", "group", g.id, "generation", g.generation, "members", len(g.members))
	for _, om := range g.members {
		if om.sync != nil {
			c.answerSync(g, om)
		}
	}
}

func (c *Coordinator) answerSync(g *group, m *member) {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = m.syncVersion
	pt, p := g.protocolType, g.protocol
	r.ProtocolType, r.Protocol = &pt, &p
	r.MemberAssignment = m.assignment
	m.sync <- r
	m.sync = nil
}

// Heartbeat handles a Heartbeat request.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = code(c.heartbeatReq(req))
	return resp
}

func (c *Coordinator) heartbeatReq(req *kmsg.HeartbeatRequest) *kerr.Error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	g, e := c.lockGroup(context.Background(), req.Group, false, false)
	if e != nil {
		return e
	}
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer c.unlock(g)
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	m, e := validateMember(g, req.MemberID, str(req.InstanceID), req.Generation)
	if e != nil {
		return e
	}
	switch g.state {
	case PreparingRebalance:
		c.heartbeatLocked(g, m)
		return kerr.RebalanceInProgress
	case CompletingRebalance, Stable:
		c.heartbeatLocked(g, m)
		return nil
	}
	return kerr.UnknownMemberID
}

// LeaveGroup handles a LeaveGroup request (v3+: a batch of members).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	var g *group
	top := func() (e *kerr.Error) {
		if req.Group == "" {
			return kerr.InvalidGroupID
		}
		g, e = c.lockGroup(context.Background(), req.Group, false, false)
		return e
	}()
	if top != nil {
		resp.ErrorCode = top.Code
		return resp
	}
	if g != nil {
		defer c.unlock(g) // makes the write of a group left Empty
	}
	for _, lm := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = code(c.leaveLocked(g, lm))
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (c *Coordinator) leaveLocked(g *group, lm kmsg.LeaveGroupRequestMember) *kerr.Error {
	if g == nil {
		return kerr.UnknownMemberID
	}
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if inst := str(lm.InstanceID); inst != "" {
		id, ok := g.static[inst]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case lm.MemberID != "" && lm.MemberID != id:
			return kerr.FencedInstanceID
		}
		m := g.members[id]
		if m == nil {
			return kerr.UnknownMemberID
		}
		c.log.Info("static member left", "group", g.id, "instance", inst, "member", id)
		c.removeMemberAndUpdateLocked(g, m, "static member left")
		return nil
	}
	if t, ok := g.pending[lm.MemberID]; ok {
		t.Stop()
		delete(g.pending, lm.MemberID)
		c.maybeCompleteJoinLocked(g)
		return nil
	}
	m := g.members[lm.MemberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	c.log.Info("member left", "group", g.id, "member", m.id)
	c.removeMemberAndUpdateLocked(g, m, "left")
	return nil
}
