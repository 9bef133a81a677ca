public enum RefSAMVersion { public static let version = "0.1.0" }
