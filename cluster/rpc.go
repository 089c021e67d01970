package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The cluster RPC: members call each other's small API over the
// authenticated, multiplexed connection of transport.go (service
// serviceRPC). Each message is a 4-byte big-endian length and that many
// bytes of JSON; a client writes one rpcRequest and reads one rpcResponse
// per call. The server answers requests on a connection until the client
// closes it or it idles for rpcIdleTimeout; an unknown op or a malformed
// request gets an error response, never a panic.
//
// Leader ops (join, remove, apply, barrier_last_seq) are answered by the
// leader. A request marked Forwarded is answered only there (a follower
// says not_leader), so it is never forwarded twice; an unmarked one that
// reaches a follower is forwarded to the leader once. That is how a new
// node joins through any member it knows.
const (
	opStatus         = "status"           // this node's id, state, applied index and last seq
	opJoin           = "join"             // add ID at Addr as a voter
	opRemove         = "remove"           // remove ID from the configuration
	opApply          = "apply"            // apply Commands (encoded Command envelopes)
	opBarrierLastSeq = "barrier_last_seq" // the leader's LastSeq after a raft barrier
)

// RPC settings.
const (
	// maxFrame bounds one message: an apply carries at most
	// maxCommandsPerRPC commands of about 100 KiB each.
	maxFrame = 32 << 20
	// maxCommandsPerRPC caps the commands of one apply request.
	maxCommandsPerRPC = 64
	// statusTimeout bounds a status call: Members marks a member that does
	// not answer within it unreachable.
	statusTimeout = time.Second
	// rpcIdleTimeout closes a server connection with no request for it.
	rpcIdleTimeout = time.Minute
	// rpcWriteTimeout bounds writing a response.
	rpcWriteTimeout = 10 * time.Second
	// maxRPCTimeout caps the time a server spends on one request.
	maxRPCTimeout = time.Minute
)

// rpcRequest is every request; the fields beyond Op depend on it.
type rpcRequest struct {
	Op string `json:"op"`
	// Forwarded marks a request that must be answered by the leader only.
	Forwarded bool `json:"forwarded,omitempty"`
	// TimeoutMS is how long the client waits for the answer.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// ID and Addr: the member to join (both) or remove (ID).
	ID   string `json:"id,omitempty"`
	Addr string `json:"addr,omitempty"`
	// Commands are encoded Command envelopes to apply, in order.
	Commands []json.RawMessage `json:"commands,omitempty"`
}

// rpcResponse is every response.
type rpcResponse struct {
	Error *rpcError `json:"error,omitempty"`
	// Index is the raft index of a join, remove or the last command applied.
	Index uint64 `json:"index,omitempty"`
	// LastSeq is the leader's catalog LastSeq after a barrier.
	LastSeq uint64 `json:"last_seq,omitempty"`
	// Status answers opStatus.
	Status *nodeStatus `json:"status,omitempty"`
}

// nodeStatus is what a member reports about itself.
type nodeStatus struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	State        string `json:"state"`
	LeaderID     string `json:"leader_id,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	LastSeq      uint64 `json:"last_seq"`
	// Progress is Config.Progress, when set.
	Progress uint64 `json:"progress,omitempty"`
	// LastContactNS is how long ago this node last heard from the leader
	// (raft's last_contact): 0 on the leader, -1 if never.
	LastContactNS int64 `json:"last_contact_ns"`
}

// Error codes of rpcError. Each maps to a sentinel error, so that
// errors.Is works across the wire.
const (
	codeNotLeader     = "not_leader"
	codeNoLeader      = "no_leader"
	codeConflict      = "conflict"
	codeInvalid       = "invalid"
	codeTimeout       = "timeout"
	codeClosed        = "closed"
	codeUnknownMember = "unknown_member"
	codeNoSecret      = "no_secret"
	codeUnknownOp     = "unknown_op"
	codeBadRequest    = "bad_request"
	codeInternal      = "internal"
	codeRejected      = "rejected"
	codeNotFound      = "not_found"
)

// errorCodes maps sentinels to codes, most specific first.
var errorCodes = []struct {
	code string
	err  error
}{
	{codeNoLeader, ErrNoLeader},
	{codeNotLeader, ErrNotLeader},
	{codeConflict, ErrConflict},
	{codeInvalid, ErrInvalid},
	{codeRejected, ErrRejected},
	{codeNotFound, ErrNotFound},
	{codeUnknownMember, ErrUnknownMember},
	{codeNoSecret, ErrNoSecret},
	{codeClosed, ErrClosed},
	{codeTimeout, ErrTimeout},
	{codeTimeout, context.DeadlineExceeded},
	{codeBadRequest, errBadRequest},
}

var (
	// errBadRequest is a request the server could not decode.
	errBadRequest = errors.New("bad cluster rpc request")
	// errUnreachable wraps a failure to reach a member or to hear its
	// answer: the member may be down, or may have done the work.
	errUnreachable = errors.New("member unreachable")
)

// rpcError is an error response: a stable code and the server's message.
type rpcError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// addr is the member that answered, filled in by the client.
	addr string
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("member %s: %s", e.addr, e.Message)
}

// Unwrap returns the sentinel of the code, if any.
func (e *rpcError) Unwrap() error {
	for _, c := range errorCodes {
		if c.code == e.Code {
			return c.err
		}
	}
	return nil
}

// toRPCError turns a handler's error into a response.
func toRPCError(err error) *rpcError {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return &rpcError{Code: c.code, Message: err.Error()}
		}
	}
	return &rpcError{Code: codeInternal, Message: err.Error()}
}

// writeFrame writes v as one length-prefixed JSON message.
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > maxFrame {
		return fmt.Errorf("rpc message of %d bytes exceeds %d", len(body), maxFrame)
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// readFrame reads one length-prefixed message.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("rpc message of %d bytes exceeds %d", n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// call sends req to the member at addr and waits, at most timeout, for its
// answer. A failure to connect or to hear back wraps errUnreachable; an
// error response is an *rpcError.
func (n *Node) call(ctx context.Context, addr string, req rpcRequest, timeout time.Duration) (rpcResponse, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	req.TimeoutMS = time.Until(deadline).Milliseconds()

	conn, err := n.mux.dial(ctx, addr, serviceRPC)
	if err != nil {
		if ctx.Err() != nil {
			return rpcResponse{}, fmt.Errorf("%s %s: %w", req.Op, addr, context.Cause(ctx))
		}
		if errors.Is(err, ErrNoSecret) || errors.Is(err, ErrClosed) {
			return rpcResponse{}, err
		}
		return rpcResponse{}, fmt.Errorf("%s %s: %w: %w", req.Op, addr, errUnreachable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	_ = conn.SetDeadline(deadline)

	var resp rpcResponse
	body, err := func() ([]byte, error) {
		if err := writeFrame(conn, req); err != nil {
			return nil, err
		}
		return readFrame(conn)
	}()
	if err == nil {
		err = json.Unmarshal(body, &resp)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return rpcResponse{}, fmt.Errorf("%s %s: %w", req.Op, addr, context.Cause(ctx))
	case err != nil:
		return rpcResponse{}, fmt.Errorf("%s %s: %w: %w", req.Op, addr, errUnreachable, err)
	case resp.Error != nil:
		resp.Error.addr = addr
		return resp, resp.Error
	}
	return resp, nil
}

// serveRPC answers requests on one authenticated connection.
func (n *Node) serveRPC(conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(n.ctx, func() { _ = conn.Close() })
	defer stop()
	log := n.log.WithField("remote_addr", conn.RemoteAddr().String())
	for {
		_ = conn.SetReadDeadline(time.Now().Add(rpcIdleTimeout))
		body, err := readFrame(conn)
		if err != nil {
			if !errors.Is(err, io.EOF) && n.ctx.Err() == nil {
				log.WithError(err).Debug("cluster rpc connection ended")
			}
			return
		}
		var req rpcRequest
		var resp rpcResponse
		if err := json.Unmarshal(body, &req); err != nil {
			resp.Error = toRPCError(fmt.Errorf("%w: %w", errBadRequest, err))
		} else {
			resp = n.handleRPC(&req)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(rpcWriteTimeout))
		if err := writeFrame(conn, resp); err != nil {
			log.WithError(err).Debug("write cluster rpc response")
			return
		}
	}
}

// rpcHandler answers one op.
type rpcHandler func(n *Node, ctx context.Context, req *rpcRequest) (rpcResponse, error)

// rpcHandlers maps each op to its handler.
var rpcHandlers = map[string]rpcHandler{
	opStatus:         (*Node).handleStatus,
	opJoin:           (*Node).handleJoin,
	opRemove:         (*Node).handleRemove,
	opApply:          (*Node).handleApply,
	opBarrierLastSeq: (*Node).handleBarrierLastSeq,
}

// handleRPC runs the handler of req.Op within the time the client waits.
func (n *Node) handleRPC(req *rpcRequest) (resp rpcResponse) {
	h, ok := rpcHandlers[req.Op]
	if !ok {
		return rpcResponse{Error: &rpcError{Code: codeUnknownOp, Message: fmt.Sprintf("unknown op %q", req.Op)}}
	}
	defer func() {
		if r := recover(); r != nil {
			n.log.WithField("op", req.Op).WithField("panic", r).Error("cluster rpc handler panicked")
			resp = rpcResponse{Error: &rpcError{Code: codeInternal, Message: "internal error"}}
		}
	}()
	timeout := min(max(time.Duration(req.TimeoutMS)*time.Millisecond*9/10, 0), maxRPCTimeout)
	if timeout == 0 {
		timeout = n.cfg.ApplyTimeout
	}
	ctx, cancel := context.WithTimeoutCause(n.ctx, timeout, ErrTimeout)
	defer cancel()
	resp, err := h(n, ctx, req)
	if err != nil {
		resp.Error = toRPCError(err)
	}
	return resp
}

func (n *Node) handleStatus(context.Context, *rpcRequest) (rpcResponse, error) {
	st := n.status()
	return rpcResponse{Status: &st}, nil
}

func (n *Node) handleJoin(ctx context.Context, req *rpcRequest) (rpcResponse, error) {
	if !req.Forwarded {
		return rpcResponse{}, n.Join(ctx, req.ID, req.Addr)
	}
	if err := n.enter(); err != nil {
		return rpcResponse{}, err
	}
	defer n.wg.Done()
	return rpcResponse{}, n.addVoter(ctx, req.ID, req.Addr)
}

func (n *Node) handleRemove(ctx context.Context, req *rpcRequest) (rpcResponse, error) {
	if !req.Forwarded {
		return rpcResponse{}, n.Remove(ctx, req.ID)
	}
	if err := n.enter(); err != nil {
		return rpcResponse{}, err
	}
	defer n.wg.Done()
	return rpcResponse{}, n.removeServer(ctx, req.ID)
}

func (n *Node) handleApply(ctx context.Context, req *rpcRequest) (rpcResponse, error) {
	if len(req.Commands) > maxCommandsPerRPC {
		return rpcResponse{}, fmt.Errorf("%w: %d commands in one request, at most %d",
			errBadRequest, len(req.Commands), maxCommandsPerRPC)
	}
	cmds := make([][]byte, len(req.Commands))
	for i, c := range req.Commands {
		if err := checkCommand(c); err != nil {
			return rpcResponse{}, err
		}
		cmds[i] = c
	}
	if err := n.enter(); err != nil {
		return rpcResponse{}, err
	}
	defer n.wg.Done()
	if !req.Forwarded {
		index, err := n.applyAnywhere(ctx, cmds)
		return rpcResponse{Index: index}, err
	}
	if !n.IsLeader() {
		return rpcResponse{}, n.notLeader()
	}
	index, err := n.applyCommands(ctx, cmds)
	return rpcResponse{Index: index}, err
}

func (n *Node) handleBarrierLastSeq(ctx context.Context, req *rpcRequest) (rpcResponse, error) {
	if !req.Forwarded {
		seq, err := n.LeaderLastSeq(ctx)
		return rpcResponse{LastSeq: seq}, err
	}
	if err := n.enter(); err != nil {
		return rpcResponse{}, err
	}
	defer n.wg.Done()
	seq, err := n.barrierLastSeq(ctx)
	return rpcResponse{LastSeq: seq}, err
}
