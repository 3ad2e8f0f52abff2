// Unit-name escaping exactly as systemd-escape(1) does it (systemd's unit_name_escape,
// unit_name_unescape and unit_name_replace_instance): bytes of the UTF-8 form,
// '/' -> '-', a leading '.' and every byte outside [0-9A-Za-z:_.] as \xNN (lower-case hex).

private let hexDigits = Array("0123456789abcdef".utf8)
/// systemd's limit: a unit name is at most 255 bytes (UNIT_NAME_MAX - 1).
public let unitNameMaxLength = 255
private let unitTypes: Set<String> = [
    "service", "mount", "swap", "socket", "target", "device", "automount", "timer", "path", "slice", "scope",
]

private func isPlainUnitChar(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
        || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
        || b == UInt8(ascii: ":") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
}

/// Characters systemd accepts in a unit name (its VALID_CHARS plus '@'): the plain ones,
/// '-', '\' and '@'.
private func isUnitNameChar(_ b: UInt8) -> Bool {
    isPlainUnitChar(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "@")
}

/// `systemd-escape STRING`.
public func systemdEscape(_ string: String) -> String {
    var out: [UInt8] = []
    var bytes = Substring(string).utf8[...]
    func escapeByte(_ b: UInt8) {
        out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigits[Int(b >> 4)], hexDigits[Int(b & 15)]]
    }
    if bytes.first == UInt8(ascii: ".") {
        escapeByte(UInt8(ascii: "."))
        bytes = bytes.dropFirst()
    }
    for b in bytes {
        if b == UInt8(ascii: "/") {
            out.append(UInt8(ascii: "-"))
        } else if isPlainUnitChar(b) {
            out.append(b)
        } else {
            escapeByte(b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// `systemd-escape --template=TEMPLATE STRING`: the escaped string as the instance of
/// TEMPLATE ("name@.type"; like the tool, a name that already has an instance is refused).
/// Fails like the tool for an invalid template, an empty instance or a name over 255 bytes.
public func systemdEscape(_ string: String, template: String) throws(SystemdError) -> String {
    guard let at = template.firstIndex(of: "@"), isValidUnitName(template, allowInstance: false, allowTemplate: true),
        let dot = template.lastIndex(of: ".")
    else { throw SystemdError(.invalidUnitName, "'\(template)' is not a valid template unit name") }
    let instance = systemdEscape(string)
    guard !instance.isEmpty else { throw SystemdError(.invalidUnitName, "empty instance for '\(template)'") }
    let name = String(template[...at]) + instance + String(template[dot...])
    guard isValidUnitName(name, allowInstance: true, allowTemplate: false) else {
        throw SystemdError(.invalidUnitName, "'\(name)' is not a valid unit name (at most \(unitNameMaxLength) bytes)")
    }
    return name
}

/// `systemd-escape --unescape STRING`: '-' -> '/', \xNN -> that byte. Fails on a
/// backslash not followed by 'x' and two hex digits, on a NUL byte (the tool silently
/// cuts its output there) and when the bytes are not UTF-8.
public func systemdUnescape(_ string: String) throws(SystemdError) -> String {
    let bytes = Array(string.utf8)
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        if b == UInt8(ascii: "-") {
            out.append(UInt8(ascii: "/"))
        } else if b == UInt8(ascii: "\\") {
            guard i + 3 < bytes.count, bytes[i + 1] == UInt8(ascii: "x"),
                let high = hexValue(bytes[i + 2]), let low = hexValue(bytes[i + 3])
            else { throw SystemdError(.invalidEscape, "invalid escape sequence at offset \(i) in '\(string)'") }
            let value = high << 4 | low
            guard value != 0 else { throw SystemdError(.invalidEscape, "escaped NUL byte in '\(string)'") }
            out.append(value)
            i += 3
        } else {
            out.append(b)
        }
        i += 1
    }
    guard let result = String(validating: out, as: UTF8.self) else {
        throw SystemdError(.invalidEscape, "'\(string)' does not unescape to UTF-8")
    }
    return result
}

/// systemd's unit_name_is_valid for plain/instance/template names.
public func isValidUnitName(
    _ name: String, allowInstance: Bool = true, allowTemplate: Bool = true, allowPlain: Bool = false
) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= unitNameMaxLength,
        let dot = bytes.lastIndex(of: UInt8(ascii: ".")), dot > 0,
        unitTypes.contains(String(decoding: bytes[(dot + 1)...], as: UTF8.self))
    else { return false }
    guard bytes[..<dot].allSatisfy(isUnitNameChar) else { return false }
    guard let at = bytes[..<dot].firstIndex(of: UInt8(ascii: "@")) else { return allowPlain }
    if at == 0 { return false }
    return dot > at + 1 ? allowInstance : allowTemplate
}

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
    default: nil
    }
}
