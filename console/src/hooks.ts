import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, NetworkError, newIdempotencyKey } from "./api/client";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads once per change of `deps`; `reload` asks again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ data: s.data, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/**
 * A command the user starts with a click: one Idempotency-Key per user action (kept for a retry
 * of the same action, so it cannot apply twice), and no second start while one is pending.
 */
export function useAction<A extends unknown[], T>(run: (key: string, ...args: A) => Promise<T>) {
  const pending = useRef(false);
  const key = useRef<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<T | null>(null);
  const start = useCallback(
    async (retry: boolean, ...args: A): Promise<T | undefined> => {
      if (pending.current) return undefined;
      pending.current = true;
      if (!retry || !key.current) key.current = newIdempotencyKey();
      setBusy(true);
      setError(null);
      try {
        const r = await run(key.current, ...args);
        setResult(r);
        key.current = null;
        return r;
      } catch (e) {
        setError(e);
        return undefined;
      } finally {
        pending.current = false;
        setBusy(false);
      }
    },
    [run],
  );
  const go = useCallback((...args: A) => start(false, ...args), [start]);
  const retry = useCallback((...args: A) => start(true, ...args), [start]);
  const reset = useCallback(() => {
    setError(null);
    setResult(null);
    key.current = null;
  }, []);
  return { go, retry, busy, error, result, reset };
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** A list paged with the API's cursors: Next follows `next_cursor`, Previous goes back. */
export function usePaged<T>(load: (cursor: string | undefined) => Promise<Page<T>>, deps: unknown[]) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  useEffect(() => setCursors([undefined]), deps);
  const cursor = cursors[cursors.length - 1];
  const loaded = useLoad(() => load(cursor), [...deps, cursor]);
  const next = loaded.data?.next_cursor ?? null;
  return {
    ...loaded,
    items: loaded.data?.items ?? [],
    page: cursors.length,
    hasNext: !!next,
    hasPrev: cursors.length > 1,
    next: () => next && setCursors((c) => [...c, next]),
    prev: () => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)),
  };
}

/** A list read page by page with the API's cursors, each page added below the last ("Show more"). */
export function useMore<T>(load: (cursor: string | undefined) => Promise<Page<T>>, deps: unknown[]) {
  const [state, setState] = useState<{ items: T[]; next: string | null; loaded: boolean; loading: boolean; error: unknown }>({
    items: [],
    next: null,
    loaded: false,
    loading: true,
    error: null,
  });
  const generation = useRef(0);
  const last = useRef<string | undefined>(undefined);
  const read = useCallback((cursor: string | undefined) => {
    const g = generation.current;
    last.current = cursor;
    setState((s) => ({ ...s, loading: true, error: null }));
    load(cursor).then(
      (p) =>
        g === generation.current &&
        setState((s) => ({ items: cursor === undefined ? p.items : [...s.items, ...p.items], next: p.next_cursor ?? null, loaded: true, loading: false, error: null })),
      (error) => g === generation.current && setState((s) => ({ ...s, loading: false, error })),
    );
  }, deps);
  useEffect(() => {
    generation.current++;
    setState({ items: [], next: null, loaded: false, loading: true, error: null });
    read(undefined);
  }, [read]);
  return {
    ...state,
    hasMore: !!state.next,
    more: () => state.next && !state.loading && read(state.next),
    retry: () => read(last.current),
  };
}

/** The first pause between two reads of a job in the background, and the longest. */
export const POLL_FIRST_MS = 1000;
export const POLL_MAX_MS = 16_000;

/** Whether reading a job again may still succeed: a lost connection or a server's refusal for
 * now (5xx, `503 unavailable`). A 4xx (the job is gone: `404`) will not change. */
const passing = (e: unknown) => e instanceof NetworkError || (e instanceof ApiError && e.status >= 500);

/**
 * A job the API continues in the background (an import's confirm, a large allocation), read
 * again until it is no longer `committing` — the one polling loop of the console. A read that
 * fails for now (a lost connection, a 503) keeps polling, each pause twice the last up to
 * [`POLL_MAX_MS`] (back to [`POLL_FIRST_MS`] after an answer); any other failure (a 404: the
 * job is gone) stops and is shown as `error`. `onDone` runs once the job has ended.
 */
export function useJob<J extends { status: string }>(read: (job: J) => Promise<J>, onDone: () => void) {
  const [job, setJob] = useState<J | null>(null);
  const [error, setError] = useState<unknown>(null);
  const pause = useRef(POLL_FIRST_MS);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!job || job.status !== "committing" || error) return;
    let live = true;
    const timer = setTimeout(() => {
      read(job).then(
        (next) => {
          if (!live) return;
          pause.current = POLL_FIRST_MS;
          setJob(next);
          if (next.status !== "committing") onDone();
          else setTick((t) => t + 1);
        },
        (e) => {
          if (!live) return;
          if (!passing(e)) return setError(e);
          pause.current = Math.min(pause.current * 2, POLL_MAX_MS);
          setTick((t) => t + 1);
        },
      );
    }, pause.current);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [job, error, tick, read, onDone]);
  const start = useCallback((j: J | null) => {
    pause.current = POLL_FIRST_MS;
    setError(null);
    setJob(j);
    if (j && j.status !== "committing") onDone();
  }, [onDone]);
  return { job, error, start };
}
