package com.posemesh.registration.tests

/**
 * A small strict JSON reader (RFC 8259) for the test vectors and the mock DDS's control API:
 * objects become `Map<String, Any?>` (insertion order kept), arrays `List<Any?>`, numbers
 * `Long` when integral and in range, else `Double`; strings handle every escape including
 * surrogate pairs. Anything malformed throws [IllegalArgumentException] with the offset.
 */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipWhitespace()
        val value = reader.value()
        reader.skipWhitespace()
        reader.require(reader.pos == text.length) { "trailing characters" }
        return value
    }

    private class Reader(val s: String) {
        var pos = 0

        fun require(ok: Boolean, what: () -> String) {
            if (!ok) throw IllegalArgumentException("JSON: ${what()} at offset $pos")
        }

        fun skipWhitespace() {
            while (pos < s.length && s[pos] in " \t\r\n") pos++
        }

        fun expect(c: Char) {
            require(pos < s.length && s[pos] == c) { "expected '$c'" }
            pos++
        }

        fun value(): Any? {
            require(pos < s.length) { "unexpected end" }
            return when (s[pos]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> number()
            }
        }

        fun literal(word: String, value: Any?): Any? {
            require(s.startsWith(word, pos)) { "expected $word" }
            pos += word.length
            return value
        }

        fun obj(): Map<String, Any?> {
            expect('{')
            val map = LinkedHashMap<String, Any?>()
            skipWhitespace()
            if (pos < s.length && s[pos] == '}') { pos++; return map }
            while (true) {
                skipWhitespace()
                val key = string()
                skipWhitespace()
                expect(':')
                skipWhitespace()
                map[key] = value()
                skipWhitespace()
                require(pos < s.length) { "unterminated object" }
                if (s[pos] == ',') { pos++; continue }
                expect('}')
                return map
            }
        }

        fun array(): List<Any?> {
            expect('[')
            val list = ArrayList<Any?>()
            skipWhitespace()
            if (pos < s.length && s[pos] == ']') { pos++; return list }
            while (true) {
                skipWhitespace()
                list.add(value())
                skipWhitespace()
                require(pos < s.length) { "unterminated array" }
                if (s[pos] == ',') { pos++; continue }
                expect(']')
                return list
            }
        }

        fun string(): String {
            expect('"')
            val out = StringBuilder()
            while (true) {
                require(pos < s.length) { "unterminated string" }
                val c = s[pos++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        require(pos < s.length) { "unterminated escape" }
                        when (val e = s[pos++]) {
                            '"' -> out.append('"')
                            '\\' -> out.append('\\')
                            '/' -> out.append('/')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                require(pos + 4 <= s.length) { "short \\u escape" }
                                val hex = s.substring(pos, pos + 4)
                                require(hex.all { it in "0123456789abcdefABCDEF" }) { "bad \\u escape" }
                                out.append(hex.toInt(16).toChar())
                                pos += 4
                            }
                            else -> require(false) { "bad escape \\$e" }
                        }
                    }
                    c < ' ' -> require(false) { "raw control character in string" }
                    else -> out.append(c)
                }
            }
        }

        fun number(): Any {
            val start = pos
            if (pos < s.length && s[pos] == '-') pos++
            require(pos < s.length && s[pos].isDigit()) { "expected a value" }
            if (s[pos] == '0') pos++ else while (pos < s.length && s[pos].isDigit()) pos++
            var integral = true
            if (pos < s.length && s[pos] == '.') {
                integral = false
                pos++
                require(pos < s.length && s[pos].isDigit()) { "digit after '.'" }
                while (pos < s.length && s[pos].isDigit()) pos++
            }
            if (pos < s.length && (s[pos] == 'e' || s[pos] == 'E')) {
                integral = false
                pos++
                if (pos < s.length && (s[pos] == '+' || s[pos] == '-')) pos++
                require(pos < s.length && s[pos].isDigit()) { "digit in exponent" }
                while (pos < s.length && s[pos].isDigit()) pos++
            }
            val text = s.substring(start, pos)
            return if (integral) text.toLongOrNull() ?: text.toDouble() else text.toDouble()
        }
    }
}

/** Typed access to parsed JSON, failing loudly on a wrong shape. */
@Suppress("UNCHECKED_CAST")
fun Any?.obj(): Map<String, Any?> = this as? Map<String, Any?> ?: error("not a JSON object: $this")

@Suppress("UNCHECKED_CAST")
fun Any?.list(): List<Any?> = this as? List<Any?> ?: error("not a JSON array: $this")

fun Map<String, Any?>.str(key: String): String = this[key] as? String ?: error("no string '$key' in $keys")

fun Map<String, Any?>.long(key: String): Long = this[key] as? Long ?: error("no integer '$key' in $keys")

fun Map<String, Any?>.objs(key: String): List<Map<String, Any?>> = this[key].list().map { it.obj() }

fun Map<String, Any?>.strings(key: String): List<String> =
    this[key].list().map { it as? String ?: error("non-string in '$key'") }
