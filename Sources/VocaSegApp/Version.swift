public enum VocaSegVersion {
    public static let string = "0.1.0"
}
