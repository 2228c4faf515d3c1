//! Lua scripts for Sensor dependencies: `filters.script` and `transform.script`.
//!
//! Upstream runs these with gopher-lua (Lua 5.1). Here they run on a vendored Lua 5.1
//! through `mlua`. The script sees one global table, `event`, holding the event's data
//! object.
//!
//! * A **filter** passes only when the script's last returned value is Lua `true`. Any other
//!   value (including `nil`, `1` or `"true"`) fails. A script error is returned as `Err`.
//! * A **transform** must return a table. That table is converted back to JSON and replaces
//!   the event data.
//!
//! Converting JSON to Lua (the rules upstream uses):
//! * `null` members are left out (reading them gives `nil`). `null` array elements are
//!   skipped, so the elements after them move down one index.
//! * Numbers become Lua numbers (doubles). Integers above 2^53 lose precision.
//! * Arrays become sequences (`event.list[1]` is the first element). Arrays nested directly
//!   in arrays are kept here; upstream's converter drops them.
//!
//! Converting Lua to JSON (gopher-lua's `MaxN` rule):
//! * If the largest positive integer key is `n > 0`, the table becomes an array of
//!   `t[1]..t[n]`. Holes become `null` and any non-integer keys are dropped.
//! * Otherwise the table becomes an object. Its keys are strings, and numeric or boolean keys
//!   are written as text. An **empty table becomes `{}`**, so an empty input array comes back
//!   as `{}`.
//! * A table whose metatable has `__is_array = true`, for example
//!   `setmetatable({}, {__is_array = true})`, always becomes an array, even when it is empty.
//! * Integral numbers become JSON integers (Go prints `4.0` as `4`). NaN and infinities are
//!   errors because JSON cannot hold them.
//! * Object keys are sorted, the same order Go's `json.Marshal` writes for a map.
//!
//! Sandbox: only Lua's base, `string`, `table` and `math` libraries are loaded. There is no
//! `os`, `io`, `debug`, `package`/`require`, `dofile`, `loadfile` or `coroutine`, and `print`
//! does nothing. gopher-lua has `coroutine`, but a coroutine runs without the instruction
//! hook, so it is left out. Each run has its own global environment, so globals a script assigns do not
//! carry over to the next event. A run stops with an error after [`INSTRUCTION_LIMIT`] VM
//! instructions, even if the script catches the abort with `pcall`. It also stops when the
//! state uses more than [`MEMORY_LIMIT_BYTES`] of memory. The instruction hook cannot stop
//! time spent inside one C library call, such as a pathological `string.find` pattern on a
//! long string. A returned table may hold at most 1,000,000 values, and an array-shaped table
//! at most 100,000 holes.
//!
//! The sandbox is not airtight. `getfenv(0)` and chunks made by `loadstring` still reach the
//! shared library globals, so a script can change them for later runs of the same script. It
//! still cannot reach the host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use serde_json::{Map, Number, Value as Json};

/// The most Lua VM instructions one run of a script may execute before it is stopped.
pub const INSTRUCTION_LIMIT: u64 = 10_000_000;
/// The most memory, in bytes, one script's Lua state may use.
pub const MEMORY_LIMIT_BYTES: usize = 64 * 1024 * 1024;
/// How many instructions run between two calls of the counting hook.
const HOOK_EVERY: u32 = 1_000;
/// The deepest nesting of tables or JSON values that is converted.
const MAX_DEPTH: usize = 200;
/// The most values a returned table may hold, counting a shared table once per use.
const MAX_VALUES: usize = 1_000_000;
/// The most `nil` holes an array-shaped table may have (`{[1e7] = 1}` is not an array).
const MAX_HOLES: usize = 100_000;
/// Integer keys at or above this stay in the hash part in gopher-lua, so `MaxN` ignores them.
const GOPHER_MAX_ARRAY_INDEX: f64 = 67_108_864.0;
/// Chunk name shown in error messages: `script:LINE: message`.
const CHUNK_NAME: &str = "=script";
/// Base-library globals that are removed. The first four reach files or modules. Code in a
/// coroutine runs without the instruction hook, so `coroutine` would escape the limit.
const REMOVED_GLOBALS: [&str; 5] = ["dofile", "loadfile", "require", "module", "coroutine"];

/// A Lua script compiled once and run many times, for a filter or a transform.
///
/// It keeps one Lua state per script behind a mutex, so it is `Send` and `Sync`. Runs of
/// the same script wait for each other.
pub struct LuaScript {
    runner: Mutex<Runner>,
}

/// The Lua state with the compiled chunk, its sandbox globals and the instruction counter.
struct Runner {
    lua: Lua,
    chunk: Function,
    sandbox: Table,
    hook_calls: Arc<AtomicU64>,
}

impl LuaScript {
    /// Compiles `src`. A syntax error is returned as text with its line number, for example
    /// `Lua syntax error: script:1: 'then' expected near 'return'`.
    pub fn compile(src: &str) -> Result<LuaScript, String> {
        let lua = Lua::new_with(
            StdLib::STRING | StdLib::TABLE | StdLib::MATH,
            LuaOptions::default(),
        )
        .map_err(|e| format!("cannot start Lua: {e}"))?;
        lua.set_memory_limit(MEMORY_LIMIT_BYTES)
            .map_err(|e| format!("cannot limit Lua memory: {e}"))?;
        let sandbox = build_sandbox(&lua).map_err(|e| format!("cannot set up Lua sandbox: {e}"))?;
        let chunk = lua
            .load(src)
            .set_name(CHUNK_NAME)
            .into_function()
            .map_err(|e| format!("Lua syntax error: {}", lua_error_text(&e)))?;
        let hook_calls = Arc::new(AtomicU64::new(0));
        install_instruction_hook(&lua, Arc::clone(&hook_calls))
            .map_err(|e| format!("cannot install Lua instruction limit: {e}"))?;
        let runner = Runner {
            lua,
            chunk,
            sandbox,
            hook_calls,
        };
        Ok(LuaScript {
            runner: Mutex::new(runner),
        })
    }

    /// Runs the script as a filter: `Ok(true)` only when its last returned value is `true`.
    /// `data` must be a JSON object (or `null`, seen as an empty table).
    pub fn filter(&self, data: &Json) -> Result<bool, String> {
        let values = self.lock().run(data)?;
        Ok(matches!(
            values.into_iter().last(),
            Some(Value::Boolean(true))
        ))
    }

    /// Runs the script as a transform and converts the table it returns back to JSON.
    /// A table shaped like an array gives a JSON array, as upstream does.
    pub fn transform(&self, data: &Json) -> Result<Json, String> {
        let values = self.lock().run(data)?;
        match values.into_iter().last() {
            Some(Value::Table(table)) => ToJson { budget: MAX_VALUES }.table(&table, 0),
            Some(other) => Err(format!(
                "Lua transform script must return a table, but it returned {}",
                lua_kind(&other)
            )),
            None => Err("Lua transform script must return a table, but it returned nothing".into()),
        }
    }

    /// Locks the runner. A poisoned lock is still usable because every run starts afresh.
    fn lock(&self) -> MutexGuard<'_, Runner> {
        self.runner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Runner {
    /// Runs the chunk once with `event` = `data` in a fresh environment.
    fn run(&mut self, data: &Json) -> Result<MultiValue, String> {
        let env = self
            .fresh_env(data)
            .map_err(|e| format!("cannot pass the event to Lua: {}", lua_error_text(&e)))?;
        self.chunk
            .set_environment(env)
            .map_err(|e| format!("cannot set the Lua environment: {e}"))?;
        self.hook_calls.store(0, Ordering::Relaxed);
        let result = self.chunk.call::<MultiValue>(());
        // Checked even on success: a script may have caught the abort with `pcall`.
        let executed = self.hook_calls.load(Ordering::Relaxed) * u64::from(HOOK_EVERY);
        if executed > INSTRUCTION_LIMIT {
            return Err(format!(
                "Lua script stopped after {INSTRUCTION_LIMIT} instructions (endless loop?)"
            ));
        }
        result.map_err(|e| {
            if matches!(e, mlua::Error::MemoryError(_)) {
                format!(
                    "Lua script ran out of memory (limit {} MiB)",
                    MEMORY_LIMIT_BYTES / (1024 * 1024)
                )
            } else {
                format!("Lua script error: {}", lua_error_text(&e))
            }
        })
    }

    /// Builds the per-run globals: `event`, `_G`, and the sandbox through `__index`.
    fn fresh_env(&self, data: &Json) -> mlua::Result<Table> {
        let event = match data {
            Json::Object(map) => object_to_table(&self.lua, map, 0)?,
            Json::Null => self.lua.create_table()?,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "the event data is {}, not a JSON object",
                    json_kind(other)
                )));
            }
        };
        let env = self.lua.create_table()?;
        let meta = self.lua.create_table()?;
        meta.raw_set("__index", &self.sandbox)?;
        env.set_metatable(Some(meta))?;
        env.raw_set("event", event)?;
        env.raw_set("_G", &env)?;
        Ok(env)
    }
}

/// Removes unsafe globals and replaces `print` with a function that does nothing.
fn build_sandbox(lua: &Lua) -> mlua::Result<Table> {
    let globals = lua.globals();
    for name in REMOVED_GLOBALS {
        globals.raw_set(name, Value::Nil)?;
    }
    globals.raw_set("print", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    Ok(globals)
}

/// Counts hook calls and aborts the running script once the instruction budget is spent.
fn install_instruction_hook(lua: &Lua, calls: Arc<AtomicU64>) -> mlua::Result<()> {
    let max_calls = INSTRUCTION_LIMIT / u64::from(HOOK_EVERY);
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            if calls.fetch_add(1, Ordering::Relaxed) >= max_calls {
                Err(mlua::Error::runtime("instruction limit reached"))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
}

/// The message of a Lua error without mlua's wrapping and stack traceback.
fn lua_error_text(err: &mlua::Error) -> String {
    let text = match err {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => return lua_error_text(cause),
        mlua::Error::WithContext { cause, .. } => return lua_error_text(cause),
        other => other.to_string(),
    };
    match text.find("\nstack traceback:") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// A short name for the kind of a Lua value, for error messages.
fn lua_kind(value: &Value) -> String {
    match value {
        Value::Nil => "nil".to_string(),
        Value::Integer(_) | Value::Number(_) => "a number".to_string(),
        other => format!("a {}", other.type_name()),
    }
}

/// A short name for the kind of a JSON value, for error messages.
fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Converts a JSON object to a Lua table; `null` members are left out.
fn object_to_table(lua: &Lua, map: &Map<String, Json>, depth: usize) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    for (key, value) in map {
        if let Some(value) = json_to_lua(lua, value, depth + 1)? {
            table.raw_set(key.as_str(), value)?;
        }
    }
    Ok(table)
}

/// Converts a JSON array to a Lua sequence; `null` elements are skipped.
fn array_to_table(lua: &Lua, items: &[Json], depth: usize) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    let mut next = 1;
    for item in items {
        if let Some(value) = json_to_lua(lua, item, depth + 1)? {
            table.raw_set(next, value)?;
            next += 1;
        }
    }
    Ok(table)
}

/// Converts one JSON value; `None` for `null`, which Lua tables cannot hold.
fn json_to_lua(lua: &Lua, value: &Json, depth: usize) -> mlua::Result<Option<Value>> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime(format!(
            "event data is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(Some(match value {
        Json::Null => return Ok(None),
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => Value::Table(array_to_table(lua, items, depth)?),
        Json::Object(map) => Value::Table(object_to_table(lua, map, depth)?),
    }))
}

/// Converts returned Lua values to JSON, bounding depth, size and array holes.
struct ToJson {
    /// How many more values may be produced; shared tables are converted once per use.
    budget: usize,
}

impl ToJson {
    /// Converts a Lua table following the `MaxN` and `__is_array` rules.
    fn table(&mut self, table: &Table, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "the returned table is nested deeper than {MAX_DEPTH} levels \
                 (does it contain itself?)"
            ));
        }
        let mut entries = Vec::new();
        let (mut max_n, mut indexed) = (0usize, 0usize);
        for pair in table.pairs::<Value, Value>() {
            let (key, value) = pair.map_err(|e| format!("cannot read the returned table: {e}"))?;
            if let Some(index) = array_index(&key) {
                max_n = max_n.max(index);
                indexed += 1;
            }
            entries.push((key, value));
        }
        if max_n > 0 || is_marked_array(table) {
            return self.array(table, max_n, indexed, depth);
        }
        let mut object = Vec::with_capacity(entries.len());
        for (key, value) in &entries {
            object.push((key_text(key)?, self.value(value, depth + 1)?));
        }
        object.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Json::Object(object.into_iter().collect()))
    }

    /// Converts `table[1..=max_n]`, with `null` for holes.
    fn array(
        &mut self,
        table: &Table,
        max_n: usize,
        indexed: usize,
        depth: usize,
    ) -> Result<Json, String> {
        if max_n - indexed > MAX_HOLES {
            return Err(format!(
                "the returned table is an array of length {max_n} with more than {MAX_HOLES} \
                 missing elements"
            ));
        }
        let mut items = Vec::with_capacity(max_n);
        for index in 1..=max_n {
            let value: Value = table
                .raw_get(index)
                .map_err(|e| format!("cannot read element {index} of the returned table: {e}"))?;
            items.push(self.value(&value, depth + 1)?);
        }
        Ok(Json::Array(items))
    }

    /// Converts one Lua value.
    fn value(&mut self, value: &Value, depth: usize) -> Result<Json, String> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| format!("the returned table holds more than {MAX_VALUES} values"))?;
        match value {
            Value::Nil => Ok(Json::Null),
            Value::Boolean(b) => Ok(Json::Bool(*b)),
            Value::Integer(i) => Ok(Json::from(*i)),
            Value::Number(n) => number_to_json(*n),
            Value::String(s) => Ok(Json::String(s.to_string_lossy())),
            Value::Table(t) => self.table(t, depth),
            other => Err(format!(
                "the returned table holds {}, which cannot be converted to JSON",
                lua_kind(other)
            )),
        }
    }
}

/// The index of a key that gopher-lua keeps in a table's array part (1 ≤ k < 2^26).
fn array_index(key: &Value) -> Option<usize> {
    let number = match key {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => return None,
    };
    let integral = number.fract() == 0.0;
    if integral && (1.0..GOPHER_MAX_ARRAY_INDEX).contains(&number) {
        Some(number as usize)
    } else {
        None
    }
}

/// True when the table's metatable holds `__is_array = true`.
fn is_marked_array(table: &Table) -> bool {
    table
        .metatable()
        .and_then(|meta| meta.raw_get::<Value>("__is_array").ok())
        .is_some_and(|flag| matches!(flag, Value::Boolean(true)))
}

/// The JSON object key for a Lua table key.
fn key_text(key: &Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "a table key that is {} cannot be a JSON object key",
            lua_kind(other)
        )),
    }
}

/// Integral numbers become JSON integers; NaN and infinities are errors.
fn number_to_json(n: f64) -> Result<Json, String> {
    if !n.is_finite() {
        return Err(format!("the Lua number {n} cannot be converted to JSON"));
    }
    // i64::MIN..2^63 is exactly representable as f64 bounds.
    if n.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n)
    {
        return Ok(Json::from(n as i64));
    }
    Number::from_f64(n)
        .map(Json::Number)
        .ok_or_else(|| format!("the Lua number {n} cannot be converted to JSON"))
}

#[cfg(test)]
mod tests;
